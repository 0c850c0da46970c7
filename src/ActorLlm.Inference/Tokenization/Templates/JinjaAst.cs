namespace ActorLlm.Inference.Tokenization.Templates;

// The syntax tree of a template: statements (text, output, control flow) and expressions, as jinja2's parser builds them.

internal abstract record Node(int Line);

internal sealed record TextNode(string Text, int Line) : Node(Line);

internal sealed record OutputNode(Expr Value, int Line) : Node(Line);

internal sealed record IfNode(IReadOnlyList<(Expr Test, IReadOnlyList<Node> Body)> Branches, IReadOnlyList<Node> Else, int Line) : Node(Line);

internal sealed record ForNode(Expr Target, Expr Iterable, Expr? Filter, IReadOnlyList<Node> Body, IReadOnlyList<Node> Else, int Line) : Node(Line);

internal sealed record SetNode(Expr Target, Expr Value, int Line) : Node(Line);

internal sealed record SetBlockNode(Expr Target, IReadOnlyList<FilterExpr> Filters, IReadOnlyList<Node> Body, int Line) : Node(Line);

internal sealed record MacroParameter(string Name, Expr? Default);

internal sealed record MacroNode(string Name, IReadOnlyList<MacroParameter> Parameters, IReadOnlyList<Node> Body, int Line) : Node(Line);

/// <summary><c>{% call(params) macro(args) %}body{% endcall %}</c>: calls the macro with <c>caller</c> rendering the body.</summary>
internal sealed record CallBlockNode(CallExpr Call, IReadOnlyList<MacroParameter> Parameters, IReadOnlyList<Node> Body, int Line) : Node(Line);

internal sealed record FilterBlockNode(IReadOnlyList<FilterExpr> Filters, IReadOnlyList<Node> Body, int Line) : Node(Line);

internal sealed record WithNode(IReadOnlyList<(Expr Target, Expr Value)> Assignments, IReadOnlyList<Node> Body, int Line) : Node(Line);

/// <summary>A body rendered in place: transformers' <c>{% generation %}</c> (assistant-token tracking, no output of its own).</summary>
internal sealed record ScopeNode(IReadOnlyList<Node> Body, int Line) : Node(Line);

internal sealed record BreakNode(int Line) : Node(Line);

internal sealed record ContinueNode(int Line) : Node(Line);

internal abstract record Expr(int Line);

internal sealed record ConstExpr(object? Value, int Line) : Expr(Line);

internal sealed record NameExpr(string Name, int Line) : Expr(Line);

/// <summary><c>ns.attr</c> as an assignment target.</summary>
internal sealed record NamespaceRefExpr(string Name, string Attribute, int Line) : Expr(Line);

internal sealed record ListExpr(IReadOnlyList<Expr> Items, int Line) : Expr(Line);

internal sealed record TupleExpr(IReadOnlyList<Expr> Items, int Line) : Expr(Line);

internal sealed record DictExpr(IReadOnlyList<(Expr Key, Expr Value)> Items, int Line) : Expr(Line);

internal sealed record GetAttrExpr(Expr Target, string Name, int Line) : Expr(Line);

internal sealed record GetItemExpr(Expr Target, Expr Key, int Line) : Expr(Line);

internal sealed record SliceExpr(Expr? Start, Expr? Stop, Expr? Step, int Line) : Expr(Line);

internal sealed record CallArguments(IReadOnlyList<Expr> Positional, IReadOnlyList<(string Name, Expr Value)> Keywords)
{
    public static readonly CallArguments Empty = new([], []);
}

internal sealed record CallExpr(Expr Callee, CallArguments Arguments, int Line) : Expr(Line);

/// <summary><c>value | name(args)</c>; <see cref="Value"/> is null inside <c>{% filter %}</c> and block <c>set</c>.</summary>
internal sealed record FilterExpr(Expr? Value, string Name, CallArguments Arguments, int Line) : Expr(Line);

internal sealed record TestExpr(Expr Value, string Name, CallArguments Arguments, int Line) : Expr(Line);

internal sealed record UnaryExpr(string Operator, Expr Operand, int Line) : Expr(Line);

internal sealed record BinaryExpr(string Operator, Expr Left, Expr Right, int Line) : Expr(Line);

/// <summary><c>a ~ b ~ c</c>: the <c>str()</c> of each, joined.</summary>
internal sealed record ConcatExpr(IReadOnlyList<Expr> Parts, int Line) : Expr(Line);

/// <summary><c>a &lt; b == c</c>, chained as in Python; operators are == != &lt; &lt;= &gt; &gt;= in notin.</summary>
internal sealed record CompareExpr(Expr First, IReadOnlyList<(string Operator, Expr Operand)> Rest, int Line) : Expr(Line);

internal sealed record AndExpr(Expr Left, Expr Right, int Line) : Expr(Line);

internal sealed record OrExpr(Expr Left, Expr Right, int Line) : Expr(Line);

internal sealed record NotExpr(Expr Operand, int Line) : Expr(Line);

internal sealed record CondExpr(Expr Test, Expr Then, Expr? Else, int Line) : Expr(Line);
