namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// jinja2's recursive-descent parser over <see cref="JinjaLexer"/>'s tokens, with its precedence (loosest first):
/// <c>a if b else c</c>, <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>,
/// <c>* / // %</c>, <c>**</c>, unary <c>- +</c>, then filters <c>|</c> and tests <c>is</c>, which bind tighter than
/// every binary operator (<c>a + b | trim</c> is <c>a + (b | trim)</c>), then <c>.attr</c>, <c>[key]</c> and calls.
/// Unknown filters and tests are errors here, as in jinja2 (compile time).
/// </summary>
internal sealed class JinjaParser
{
    private static readonly HashSet<string> s_jinjaFilters =
    [
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "filesizeformat",
        "first", "float", "forceescape", "format", "groupby", "indent", "int", "items", "join", "last", "length", "list",
        "lower", "map", "max", "min", "pprint", "random", "reject", "rejectattr", "replace", "reverse", "round", "safe",
        "select", "selectattr", "slice", "sort", "string", "striptags", "sum", "title", "tojson", "trim", "truncate",
        "unique", "upper", "urlencode", "urlize", "wordcount", "wordwrap", "xmlattr",
    ];

    private static readonly HashSet<string> s_jinjaTests =
    [
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even", "false", "filter", "float", "ge",
        "greaterthan", "gt", "in", "integer", "iterable", "le", "lessthan", "lower", "lt", "mapping", "ne", "none", "number",
        "odd", "sameas", "sequence", "string", "test", "true", "undefined", "upper", "==", "!=", ">", ">=", "<", "<=",
    ];

    private readonly List<Token> _tokens;
    private int _index;
    private int _depth;
    private int _loopDepth;

    private JinjaParser(List<Token> tokens) => _tokens = tokens;

    public static IReadOnlyList<Node> Parse(string source)
    {
        var parser = new JinjaParser(JinjaLexer.Tokenize(source));
        var body = parser.Subparse([]);
        return body;
    }

    private Token Current => _tokens[_index];

    private Token Look => _tokens[Math.Min(_index + 1, _tokens.Count - 1)];

    private Token Next() => _tokens[_index < _tokens.Count - 1 ? _index++ : _index];

    private ChatTemplateException Error(string message, Token? at = null) =>
        new(ChatTemplateErrorKind.Syntax, message, (at ?? Current).Line);

    private Token Expect(TokenKind kind, string? text = null)
    {
        var token = Current;
        if (token.Kind != kind || (text is not null && token.Text != text))
        {
            var wanted = text is not null ? $"'{text}'" : kind switch
            {
                TokenKind.Name => "name",
                TokenKind.BlockEnd => "end of statement block",
                TokenKind.VariableEnd => "end of print statement",
                _ => kind.ToString(),
            };
            throw token.Kind == TokenKind.Eof
                ? Error($"unexpected end of template, expected {wanted}")
                : Error($"expected token {wanted}, got {token.Describe()}");
        }

        return Next();
    }

    private bool SkipOperator(string op)
    {
        if (Current.IsOperator(op))
        {
            Next();
            return true;
        }

        return false;
    }

    private bool SkipName(string name)
    {
        if (Current.IsName(name))
        {
            Next();
            return true;
        }

        return false;
    }

    private void Enter()
    {
        if (++_depth > JinjaLimits.MaxSyntaxDepth)
        {
            throw Error($"the template nests deeper than {JinjaLimits.MaxSyntaxDepth} levels");
        }
    }

    private void Leave() => _depth--;

    // ----- statements -----

    /// <summary>Nodes up to (not including) a block tag named in <paramref name="endTags"/>; at the end of the template when none is given.</summary>
    private List<Node> Subparse(IReadOnlyCollection<string> endTags)
    {
        var body = new List<Node>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.Data:
                    Next();
                    body.Add(new TextNode(token.Text, token.Line));
                    break;
                case TokenKind.VariableBegin:
                    Next();
                    var value = ParseTuple(withCondExpr: true);
                    Expect(TokenKind.VariableEnd);
                    body.Add(new OutputNode(value, token.Line));
                    break;
                case TokenKind.BlockBegin:
                    if (endTags.Count > 0 && Look.Kind == TokenKind.Name && endTags.Contains(Look.Text))
                    {
                        Next();
                        return body;
                    }

                    Next();
                    Enter();
                    body.Add(ParseStatement(endTags));
                    Leave();
                    break;
                case TokenKind.Eof:
                    if (endTags.Count > 0)
                    {
                        throw Error($"unexpected end of template; jinja was looking for the following tags: {Describe(endTags)}");
                    }

                    return body;
                default:
                    throw Error($"unexpected {token.Describe()}");
            }
        }
    }

    private static string Describe(IEnumerable<string> tags) => string.Join(" or ", tags.Select(t => $"'{t}'"));

    /// <summary>After a tag's arguments: its <c>%}</c>, then the body up to one of <paramref name="endTags"/>, whose name is left current.</summary>
    private List<Node> ParseBody(params string[] endTags)
    {
        SkipOperator(":");
        Expect(TokenKind.BlockEnd);
        return Subparse(endTags);
    }

    /// <summary>Consumes the end tag's name and its <c>%}</c>.</summary>
    private void EndTag(string name)
    {
        Expect(TokenKind.Name, name);
        Expect(TokenKind.BlockEnd);
    }

    private Node ParseStatement(IReadOnlyCollection<string> enclosingEndTags)
    {
        var token = Current;
        if (token.Kind != TokenKind.Name)
        {
            throw Error("tag name expected");
        }

        switch (token.Text)
        {
            case "if":
                return ParseIf();
            case "for":
                return ParseFor();
            case "set":
                return ParseSet();
            case "macro":
                return ParseMacro();
            case "call":
                return ParseCallBlock();
            case "filter":
                return ParseFilterBlock();
            case "with":
                return ParseWith();
            case "print":
                Next();
                var value = ParseTuple(withCondExpr: true);
                Expect(TokenKind.BlockEnd);
                return new OutputNode(value, token.Line);
            case "generation":
                Next();
                var body = ParseBody("endgeneration");
                EndTag("endgeneration");
                return new ScopeNode(body, token.Line);
            case "break" or "continue":
                Next();
                if (_loopDepth == 0)
                {
                    throw Error($"'{token.Text}' outside of a loop", token);
                }

                Expect(TokenKind.BlockEnd);
                return token.Text == "break" ? new BreakNode(token.Line) : new ContinueNode(token.Line);
            case "block" or "extends" or "include" or "import" or "from" or "autoescape":
                throw Error($"the '{token.Text}' tag is not supported by this engine (chat templates render standalone)", token);
            default:
                var message = $"encountered unknown tag '{token.Text}'.";
                if (enclosingEndTags.Count > 0)
                {
                    message += $" Jinja was looking for the following tags: {Describe(enclosingEndTags)}.";
                }

                throw Error(message, token);
        }
    }

    private IfNode ParseIf()
    {
        var line = Next().Line;
        var branches = new List<(Expr, IReadOnlyList<Node>)>();
        IReadOnlyList<Node> elseBody = [];
        var test = ParseTuple(withCondExpr: false);
        while (true)
        {
            var body = ParseBody("elif", "else", "endif");
            branches.Add((test, body));
            var tag = Next();
            if (tag.Text == "elif")
            {
                test = ParseTuple(withCondExpr: false);
                continue;
            }

            if (tag.Text == "else")
            {
                elseBody = ParseBody("endif");
                EndTag("endif");
            }
            else
            {
                Expect(TokenKind.BlockEnd);
            }

            return new IfNode(branches, elseBody, line);
        }
    }

    private ForNode ParseFor()
    {
        var line = Next().Line;
        var target = ParseAssignTarget(extraEnd: "in");
        Expect(TokenKind.Name, "in");
        var iterable = ParseTuple(withCondExpr: false, extraEnd: "recursive");
        Expr? filter = null;
        if (SkipName("if"))
        {
            filter = ParseExpression(withCondExpr: true);
        }

        if (Current.IsName("recursive"))
        {
            throw Error("recursive for loops are not supported by this engine");
        }

        _loopDepth++;
        var body = ParseBody("endfor", "else");
        _loopDepth--;
        IReadOnlyList<Node> elseBody = [];
        if (Next().Text == "else")
        {
            elseBody = ParseBody("endfor");
            EndTag("endfor");
        }
        else
        {
            Expect(TokenKind.BlockEnd);
        }

        return new ForNode(target, iterable, filter, body, elseBody, line);
    }

    private Node ParseSet()
    {
        var line = Next().Line;
        var target = ParseAssignTarget(withNamespace: true);
        if (SkipOperator("="))
        {
            var value = ParseTuple(withCondExpr: true);
            Expect(TokenKind.BlockEnd);
            return new SetNode(target, value, line);
        }

        if (target is not NameExpr)
        {
            throw Error("a block set assigns one name");
        }

        var filters = ParseFilterChain(null);
        var body = ParseBody("endset");
        EndTag("endset");
        return new SetBlockNode(target, filters, body, line);
    }

    private MacroNode ParseMacro()
    {
        var line = Next().Line;
        var name = Expect(TokenKind.Name).Text;
        var parameters = ParseSignature();
        var body = ParseBodyOutsideLoop("endmacro");
        EndTag("endmacro");
        return new MacroNode(name, parameters, body, line);
    }

    private List<Node> ParseBodyOutsideLoop(string endTag)
    {
        var loops = _loopDepth;
        _loopDepth = 0;
        var body = ParseBody(endTag);
        _loopDepth = loops;
        return body;
    }

    private List<MacroParameter> ParseSignature()
    {
        var parameters = new List<MacroParameter>();
        Expect(TokenKind.Operator, "(");
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
            }

            var name = Expect(TokenKind.Name).Text;
            Expr? fallback = null;
            if (SkipOperator("="))
            {
                fallback = ParseExpression(withCondExpr: true);
            }
            else if (parameters.Count > 0 && parameters[^1].Default is not null)
            {
                throw Error("non-default argument follows default argument");
            }

            parameters.Add(new MacroParameter(name, fallback));
        }

        Expect(TokenKind.Operator, ")");
        return parameters;
    }

    private CallBlockNode ParseCallBlock()
    {
        var line = Next().Line;
        var parameters = Current.IsOperator("(") ? ParseSignature() : [];
        var call = ParseExpression(withCondExpr: true) as CallExpr ?? throw Error("expected a call");
        var body = ParseBodyOutsideLoop("endcall");
        EndTag("endcall");
        return new CallBlockNode(call, parameters, body, line);
    }

    private FilterBlockNode ParseFilterBlock()
    {
        var line = Next().Line;
        var filters = ParseFilterChain(null, startInline: true);
        var body = ParseBody("endfilter");
        EndTag("endfilter");
        return new FilterBlockNode(filters, body, line);
    }

    private WithNode ParseWith()
    {
        var line = Next().Line;
        var assignments = new List<(Expr, Expr)>();
        while (Current.Kind != TokenKind.BlockEnd)
        {
            if (assignments.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
            }

            var target = ParseAssignTarget();
            Expect(TokenKind.Operator, "=");
            assignments.Add((target, ParseExpression(withCondExpr: true)));
        }

        var body = ParseBody("endwith");
        EndTag("endwith");
        return new WithNode(assignments, body, line);
    }

    /// <summary>A name, a tuple of names (<c>k, v</c>), or with <paramref name="withNamespace"/> a <c>ns.attr</c>.</summary>
    private Expr ParseAssignTarget(string? extraEnd = null, bool withNamespace = false)
    {
        if (withNamespace && Current.Kind == TokenKind.Name && Look.IsOperator("."))
        {
            var name = Next();
            Next();
            var attribute = Expect(TokenKind.Name);
            return new NamespaceRefExpr(name.Text, attribute.Text, name.Line);
        }

        var target = ParseTuple(withCondExpr: false, simplified: true, extraEnd: extraEnd);
        CheckAssignable(target);
        return target;
    }

    private void CheckAssignable(Expr target)
    {
        switch (target)
        {
            case NameExpr { Name: "true" or "false" or "none" or "True" or "False" or "None" }:
                throw Error("can't assign to a constant");
            case NameExpr:
                return;
            case TupleExpr tuple:
                foreach (var item in tuple.Items)
                {
                    CheckAssignable(item);
                }

                return;
            default:
                throw Error($"can't assign to {target.GetType().Name.Replace("Expr", "").ToLowerInvariant()}");
        }
    }

    // ----- expressions -----

    private bool IsTupleEnd(string? extraEnd) =>
        Current.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd || Current.IsOperator(")")
        || (extraEnd is not null && Current.IsName(extraEnd));

    /// <summary>An expression, or several separated by commas as a tuple (<c>{% set a, b = 1, 2 %}</c>).</summary>
    private Expr ParseTuple(bool withCondExpr, bool simplified = false, string? extraEnd = null, bool explicitParentheses = false)
    {
        var line = Current.Line;
        var items = new List<Expr>();
        var isTuple = false;
        while (true)
        {
            if (items.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
            }

            if (IsTupleEnd(extraEnd))
            {
                break;
            }

            items.Add(simplified ? ParsePrimary() : ParseExpression(withCondExpr));
            if (Current.IsOperator(","))
            {
                isTuple = true;
            }
            else
            {
                break;
            }
        }

        if (!isTuple)
        {
            if (items.Count > 0)
            {
                return items[0];
            }

            if (!explicitParentheses)
            {
                throw Error($"expected an expression, got {Current.Describe()}");
            }
        }

        return new TupleExpr(items, line);
    }

    private Expr ParseExpression(bool withCondExpr)
    {
        Enter();
        var result = withCondExpr ? ParseCondExpr() : ParseOr();
        Leave();
        return result;
    }

    private Expr ParseCondExpr()
    {
        var expr = ParseOr();
        while (Current.IsName("if"))
        {
            var line = Next().Line;
            var test = ParseOr();
            Expr? otherwise = null;
            if (SkipName("else"))
            {
                otherwise = ParseExpression(withCondExpr: true);
            }

            expr = new CondExpr(test, expr, otherwise, line);
        }

        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var line = Next().Line;
            left = new OrExpr(left, ParseAnd(), line);
        }

        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var line = Next().Line;
            left = new AndExpr(left, ParseNot(), line);
        }

        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            var line = Next().Line;
            Enter();
            var operand = ParseNot();
            Leave();
            return new NotExpr(operand, line);
        }

        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var line = Current.Line;
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            var token = Current;
            if (token.Kind == TokenKind.Operator && token.Text is "==" or "!=" or "<" or "<=" or ">" or ">=")
            {
                Next();
                rest.Add((token.Text, ParseMath1()));
            }
            else if (token.IsName("in"))
            {
                Next();
                rest.Add(("in", ParseMath1()));
            }
            else if (token.IsName("not") && Look.IsName("in"))
            {
                Next();
                Next();
                rest.Add(("notin", ParseMath1()));
            }
            else
            {
                break;
            }
        }

        return rest.Count == 0 ? first : new CompareExpr(first, rest, line);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.Kind == TokenKind.Operator && Current.Text is "+" or "-")
        {
            var op = Next();
            left = new BinaryExpr(op.Text, left, ParseConcat(), op.Line);
        }

        return left;
    }

    private Expr ParseConcat()
    {
        var line = Current.Line;
        var parts = new List<Expr> { ParseMath2() };
        while (SkipOperator("~"))
        {
            parts.Add(ParseMath2());
        }

        return parts.Count == 1 ? parts[0] : new ConcatExpr(parts, line);
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Text is "*" or "/" or "//" or "%")
        {
            var op = Next();
            left = new BinaryExpr(op.Text, left, ParsePow(), op.Line);
        }

        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOperator("**"))
        {
            var op = Next();
            left = new BinaryExpr("**", left, ParseUnary(withFilter: true), op.Line);
        }

        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        Enter();
        var token = Current;
        Expr node;
        if (token.IsOperator("-") || token.IsOperator("+"))
        {
            Next();
            node = new UnaryExpr(token.Text, ParseUnary(withFilter: false), token.Line);
        }
        else
        {
            node = ParsePrimary();
        }

        node = ParsePostfix(node);
        if (withFilter)
        {
            node = ParseFilterExpr(node);
        }

        Leave();
        return node;
    }

    private Expr ParsePrimary()
    {
        var token = Current;
        switch (token.Kind)
        {
            case TokenKind.Name:
                Next();
                return token.Text switch
                {
                    "true" or "True" => new ConstExpr(true, token.Line),
                    "false" or "False" => new ConstExpr(false, token.Line),
                    "none" or "None" => new ConstExpr(null, token.Line),
                    _ => new NameExpr(token.Text, token.Line),
                };
            case TokenKind.String:
                Next();
                var text = (string)token.Value!;
                while (Current.Kind == TokenKind.String)
                {
                    text += (string)Next().Value!;
                }

                return new ConstExpr(text, token.Line);
            case TokenKind.Integer or TokenKind.Float:
                Next();
                return new ConstExpr(token.Value, token.Line);
            case TokenKind.Operator when token.Text == "(":
                Next();
                var inner = ParseTuple(withCondExpr: true, explicitParentheses: true);
                Expect(TokenKind.Operator, ")");
                return inner;
            case TokenKind.Operator when token.Text == "[":
                return ParseList();
            case TokenKind.Operator when token.Text == "{":
                return ParseDict();
            default:
                throw token.Kind == TokenKind.Eof ? Error("unexpected end of template") : Error($"unexpected {token.Describe()}");
        }
    }

    private ListExpr ParseList()
    {
        var line = Expect(TokenKind.Operator, "[").Line;
        var items = new List<Expr>();
        while (!Current.IsOperator("]"))
        {
            if (items.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
            }

            if (Current.IsOperator("]"))
            {
                break;
            }

            items.Add(ParseExpression(withCondExpr: true));
        }

        Expect(TokenKind.Operator, "]");
        return new ListExpr(items, line);
    }

    private DictExpr ParseDict()
    {
        var line = Expect(TokenKind.Operator, "{").Line;
        var items = new List<(Expr, Expr)>();
        while (!Current.IsOperator("}"))
        {
            if (items.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
            }

            if (Current.IsOperator("}"))
            {
                break;
            }

            var key = ParseExpression(withCondExpr: true);
            Expect(TokenKind.Operator, ":");
            items.Add((key, ParseExpression(withCondExpr: true)));
        }

        Expect(TokenKind.Operator, "}");
        return new DictExpr(items, line);
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (Current.IsOperator(".") || Current.IsOperator("["))
            {
                node = ParseSubscript(node);
            }
            else if (Current.IsOperator("("))
            {
                node = new CallExpr(node, ParseCallArguments(), node.Line);
            }
            else
            {
                return node;
            }
        }
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
            {
                node = ParseFilterChain(node)[^1];
            }
            else if (Current.IsName("is"))
            {
                node = ParseTest(node);
            }
            else if (Current.IsOperator("("))
            {
                node = new CallExpr(node, ParseCallArguments(), node.Line);
            }
            else
            {
                return node;
            }
        }
    }

    private Expr ParseSubscript(Expr node)
    {
        var token = Next();
        if (token.Text == ".")
        {
            var attribute = Next();
            return attribute.Kind switch
            {
                TokenKind.Name => new GetAttrExpr(node, attribute.Text, attribute.Line),
                TokenKind.Integer => new GetItemExpr(node, new ConstExpr(attribute.Value, attribute.Line), attribute.Line),
                _ => throw Error("expected name or number", attribute),
            };
        }

        var keys = new List<Expr>();
        while (!Current.IsOperator("]"))
        {
            if (keys.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
            }

            keys.Add(ParseSubscribed());
        }

        Expect(TokenKind.Operator, "]");
        var key = keys.Count == 1 ? keys[0] : new TupleExpr(keys, token.Line);
        return new GetItemExpr(node, key, token.Line);
    }

    /// <summary>A subscript: an expression or a slice <c>start:stop:step</c> with any part left out.</summary>
    private Expr ParseSubscribed()
    {
        var line = Current.Line;
        Expr? start = null;
        if (!Current.IsOperator(":"))
        {
            start = ParseExpression(withCondExpr: true);
            if (!Current.IsOperator(":"))
            {
                return start;
            }
        }

        Next();
        Expr? stop = null;
        Expr? step = null;
        if (!Current.IsOperator(":") && !Current.IsOperator("]") && !Current.IsOperator(","))
        {
            stop = ParseExpression(withCondExpr: true);
        }

        if (SkipOperator(":") && !Current.IsOperator("]") && !Current.IsOperator(","))
        {
            step = ParseExpression(withCondExpr: true);
        }

        return new SliceExpr(start, stop, step, line);
    }

    private CallArguments ParseCallArguments()
    {
        Expect(TokenKind.Operator, "(");
        var positional = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        while (!Current.IsOperator(")"))
        {
            if (positional.Count + keywords.Count > 0)
            {
                Expect(TokenKind.Operator, ",");
                if (Current.IsOperator(")"))
                {
                    break;
                }
            }

            if (Current.IsOperator("*") || Current.IsOperator("**"))
            {
                throw Error("*args and **kwargs in calls are not supported by this engine");
            }

            if (Current.Kind == TokenKind.Name && Look.IsOperator("="))
            {
                var name = Next().Text;
                Next();
                keywords.Add((name, ParseExpression(withCondExpr: true)));
            }
            else
            {
                if (keywords.Count > 0)
                {
                    throw Error("invalid syntax for function call expression");
                }

                positional.Add(ParseExpression(withCondExpr: true));
            }
        }

        Expect(TokenKind.Operator, ")");
        return new CallArguments(positional, keywords);
    }

    /// <summary><c>| f | g(args)</c>: each filter applied to the previous; the first to <paramref name="value"/> (null in filter blocks).</summary>
    private List<FilterExpr> ParseFilterChain(Expr? value, bool startInline = false)
    {
        var filters = new List<FilterExpr>();
        while (Current.IsOperator("|") || startInline)
        {
            if (!startInline)
            {
                Next();
            }

            startInline = false;
            var nameToken = Expect(TokenKind.Name);
            var name = nameToken.Text;
            CheckKnown(name, s_jinjaFilters, JinjaFilters.Has, "filter", nameToken);
            var arguments = Current.IsOperator("(") ? ParseCallArguments() : CallArguments.Empty;
            var filter = new FilterExpr(filters.Count > 0 ? filters[^1] : value, name, arguments, nameToken.Line);
            filters.Add(filter);
        }

        return filters;
    }

    private Expr ParseTest(Expr node)
    {
        var line = Next().Line;
        var negated = SkipName("not");
        var nameToken = Expect(TokenKind.Name);
        var name = nameToken.Text;
        CheckKnown(name, s_jinjaTests, JinjaTests.Has, "test", nameToken);
        CallArguments arguments;
        if (Current.IsOperator("("))
        {
            arguments = ParseCallArguments();
        }
        else if ((Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                  || Current.IsOperator("(") || Current.IsOperator("[") || Current.IsOperator("{"))
                 && !Current.IsName("else") && !Current.IsName("or") && !Current.IsName("and"))
        {
            if (Current.IsName("is"))
            {
                throw Error("you cannot chain multiple tests with is");
            }

            arguments = new CallArguments([ParsePostfix(ParsePrimary())], []);
        }
        else
        {
            arguments = CallArguments.Empty;
        }

        Expr test = new TestExpr(node, name, arguments, line);
        return negated ? new NotExpr(test, line) : test;
    }

    private void CheckKnown(string name, HashSet<string> jinjaNames, Func<string, bool> implemented, string what, Token at)
    {
        if (implemented(name))
        {
            return;
        }

        throw jinjaNames.Contains(name)
            ? Error($"the '{name}' {what} is not supported by this engine", at)
            : Error($"no {what} named '{name}'", at);
    }
}
