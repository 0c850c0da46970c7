using System.Diagnostics;
using System.Text;

namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// One scope of variables. jinja2's scoping: each for-loop iteration, macro call, <c>with</c> block and call-block
/// body is a new scope whose reads fall back to the enclosing one and whose <c>set</c>s do not leak out (hence
/// <c>namespace()</c>); <c>if</c> is not a scope.
/// </summary>
internal sealed class Frame(Frame? parent)
{
    private readonly Dictionary<string, object?> _variables = new(StringComparer.Ordinal);

    public bool TryGet(string name, out object? value)
    {
        for (var frame = this; frame is not null; frame = frame.Parent)
        {
            if (frame._variables.TryGetValue(name, out value))
            {
                return true;
            }
        }

        value = null;
        return false;
    }

    public Frame? Parent { get; } = parent;

    public void Set(string name, object? value) => _variables[name] = value;
}

/// <summary>A <c>{% macro %}</c> (or a call block's <c>caller</c>), closed over the scope it was defined in.</summary>
internal sealed class MacroCallable(MacroNode node, Frame scope, MacroCallable? caller = null) : JinjaCallable
{
    public override string Name => Node.Name;

    public MacroNode Node { get; } = node;

    public Frame Scope { get; } = scope;

    public MacroCallable? Caller { get; } = caller;

    public override object? Call(JinjaRenderer renderer, JinjaArguments arguments) => renderer.CallMacro(this, arguments, Caller);
}

/// <summary>Renders a parsed template: executes statements into output and evaluates expressions, within <see cref="JinjaLimits"/>.</summary>
internal sealed partial class JinjaRenderer
{
    private enum Flow
    {
        Normal,
        Break,
        Continue,
    }

    private const int MaxRangeItems = 100_000;

    private readonly Dictionary<string, object?> _context;
    private readonly Dictionary<string, object?> _globals;
    private readonly Func<DateTime> _now;
    private readonly Stack<StringBuilder> _outputs = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _charsRendered;
    private long _iterations;
    private int _callDepth;

    public JinjaRenderer(Dictionary<string, object?> context, JinjaLimits limits, Func<DateTime> now)
    {
        _context = context;
        Limits = limits;
        _now = now;
        _globals = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["range"] = new BuiltinCallable("range", (_, args) => Range(args)),
            ["dict"] = new BuiltinCallable("dict", (_, args) => MakeDict(args)),
            ["namespace"] = new BuiltinCallable("namespace", (_, args) => MakeNamespace(args)),
            ["raise_exception"] = new BuiltinCallable("raise_exception", (_, args) =>
                throw new ChatTemplateException(ChatTemplateErrorKind.Raised, PyOps.Str(args.Get(0, "message", "")))),
            ["strftime_now"] = new BuiltinCallable("strftime_now", (_, args) =>
                PyStrftime.Format(_now(), args.Get(0, "format") as string ?? throw PyOps.TypeError("strftime_now() argument must be str"))),
        };
    }

    public JinjaLimits Limits { get; }

    public string Render(IReadOnlyList<Node> body)
    {
        _outputs.Push(new StringBuilder());
        Execute(body, new Frame(null));
        return _outputs.Pop().ToString();
    }

    // ----- limits -----

    private void Append(string text)
    {
        _charsRendered += text.Length;
        if (_charsRendered > Limits.MaxOutputChars)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"the template rendered more than {Limits.MaxOutputChars} characters");
        }

        _outputs.Peek().Append(text);
    }

    public void CheckString(long length) => PyOps.CheckLength(Limits, length);

    public void CountIterations(long count)
    {
        _iterations += count;
        if (_iterations > Limits.MaxLoopIterations)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"the template ran more than {Limits.MaxLoopIterations} loop iterations");
        }

        CheckTime();
    }

    private void CheckTime()
    {
        if (_clock.Elapsed > Limits.MaxRenderTime)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"rendering took longer than {Limits.MaxRenderTime.TotalSeconds:0.#} s");
        }
    }

    /// <summary>Renders <paramref name="body"/> into a string of its own (macro bodies, block sets, filter blocks).</summary>
    private string Capture(IReadOnlyList<Node> body, Frame frame)
    {
        _outputs.Push(new StringBuilder());
        try
        {
            Execute(body, frame);
            return _outputs.Peek().ToString();
        }
        finally
        {
            _outputs.Pop();
        }
    }

    // ----- statements -----

    private Flow Execute(IReadOnlyList<Node> body, Frame frame)
    {
        foreach (var node in body)
        {
            var flow = Execute(node, frame);
            if (flow != Flow.Normal)
            {
                return flow;
            }
        }

        return Flow.Normal;
    }

    private Flow Execute(Node node, Frame frame)
    {
        switch (node)
        {
            case TextNode text:
                Append(text.Text);
                return Flow.Normal;
            case OutputNode output:
                Append(PyOps.Str(Evaluate(output.Value, frame)));
                return Flow.Normal;
            case IfNode branch:
                foreach (var (test, body) in branch.Branches)
                {
                    if (PyOps.Truthy(Evaluate(test, frame)))
                    {
                        return Execute(body, frame);
                    }
                }

                return Execute(branch.Else, frame);
            case ForNode loop:
                ExecuteFor(loop, frame);
                return Flow.Normal;
            case SetNode set:
                Assign(set.Target, Evaluate(set.Value, frame), frame);
                return Flow.Normal;
            case SetBlockNode set:
                Assign(set.Target, ApplyFilters(set.Filters, Capture(set.Body, new Frame(frame)), frame), frame);
                return Flow.Normal;
            case MacroNode macro:
                frame.Set(macro.Name, new MacroCallable(macro, frame));
                return Flow.Normal;
            case CallBlockNode call:
                Append(PyOps.Str(ExecuteCallBlock(call, frame)));
                return Flow.Normal;
            case FilterBlockNode filter:
                Append(PyOps.Str(ApplyFilters(filter.Filters, Capture(filter.Body, frame), frame)));
                return Flow.Normal;
            case WithNode with:
                var inner = new Frame(frame);
                foreach (var (target, value) in with.Assignments)
                {
                    Bind(target, Evaluate(value, frame), inner);
                }

                return Execute(with.Body, inner);
            case ScopeNode scope:
                return Execute(scope.Body, frame);
            case BreakNode:
                return Flow.Break;
            case ContinueNode:
                return Flow.Continue;
            default:
                throw new InvalidOperationException($"unknown node {node.GetType().Name}");
        }
    }

    private void ExecuteFor(ForNode loop, Frame frame)
    {
        var items = PyOps.Iterate(Evaluate(loop.Iterable, frame));
        if (loop.Filter is not null)
        {
            CountIterations(items.Count);
            items = items.Where(item =>
            {
                var scope = new Frame(frame);
                Bind(loop.Target, item, scope);
                return PyOps.Truthy(Evaluate(loop.Filter, scope));
            }).ToList();
        }

        if (items.Count == 0)
        {
            Execute(loop.Else, new Frame(frame));
            return;
        }

        var context = new LoopContext(items, depth: 1);
        for (var i = 0; i < items.Count; i++)
        {
            CountIterations(1);
            context.Index0 = i;
            var scope = new Frame(frame);
            Bind(loop.Target, items[i], scope);
            scope.Set("loop", context);
            if (Execute(loop.Body, scope) == Flow.Break)
            {
                break;
            }
        }
    }

    private void Assign(Expr target, object? value, Frame frame)
    {
        if (target is NamespaceRefExpr reference)
        {
            if (!frame.TryGet(reference.Name, out var ns) && !_context.TryGetValue(reference.Name, out ns))
            {
                ns = JinjaUndefined.Missing(reference.Name);
            }

            if (ns is not JinjaNamespace space)
            {
                throw new ChatTemplateException(ChatTemplateErrorKind.Runtime, "cannot assign attribute on non-namespace object");
            }

            space.Attributes[reference.Attribute] = value;
            return;
        }

        Bind(target, value, frame);
    }

    /// <summary>Binds a name, or unpacks into a tuple of names (<c>for k, v in ...</c>, <c>set a, b = ...</c>).</summary>
    private static void Bind(Expr target, object? value, Frame frame)
    {
        switch (target)
        {
            case NameExpr name:
                frame.Set(name.Name, value);
                break;
            case TupleExpr tuple:
                var items = PyOps.Iterate(value);
                if (items.Count < tuple.Items.Count)
                {
                    throw PyOps.ValueError($"not enough values to unpack (expected {tuple.Items.Count}, got {items.Count})");
                }

                if (items.Count > tuple.Items.Count)
                {
                    throw PyOps.ValueError($"too many values to unpack (expected {tuple.Items.Count})");
                }

                for (var i = 0; i < items.Count; i++)
                {
                    Bind(tuple.Items[i], items[i], frame);
                }

                break;
            default:
                throw new ChatTemplateException(ChatTemplateErrorKind.Runtime, "cannot assign to this expression");
        }
    }

    private object? ExecuteCallBlock(CallBlockNode call, Frame frame)
    {
        var callee = Evaluate(call.Call.Callee, frame);
        var arguments = EvaluateArguments(call.Call.Arguments, frame);
        var caller = new MacroCallable(new MacroNode("caller", call.Parameters, call.Body, call.Line), frame);
        return callee switch
        {
            MacroCallable macro => CallMacro(macro, arguments, caller),
            JinjaUndefined undefined => throw undefined.Fail(),
            _ => throw PyOps.TypeError($"'{PyOps.TypeName(callee)}' object cannot take a call block"),
        };
    }

    /// <summary>
    /// Calls a macro: arguments bind to its parameters by position then by name; missing ones take their defaults
    /// (evaluated in the macro's scope) or are undefined; extra ones land in <c>varargs</c> and <c>kwargs</c>.
    /// </summary>
    public string CallMacro(MacroCallable macro, JinjaArguments arguments, MacroCallable? caller)
    {
        if (++_callDepth > Limits.MaxCallDepth)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"macros nest deeper than {Limits.MaxCallDepth} calls");
        }

        try
        {
            CheckTime();
            var scope = new Frame(macro.Scope);
            var parameters = macro.Node.Parameters;
            var bound = new bool[parameters.Count];
            for (var i = 0; i < Math.Min(parameters.Count, arguments.Positional.Count); i++)
            {
                scope.Set(parameters[i].Name, arguments.Positional[i]);
                bound[i] = true;
            }

            var kwargs = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (name, value) in arguments.Keywords)
            {
                var index = parameters.ToList().FindIndex(p => p.Name == name);
                if (index < 0)
                {
                    kwargs[name] = value;
                }
                else if (bound[index])
                {
                    throw PyOps.TypeError($"macro {PyRepr.String(macro.Name)} got multiple values for argument {PyRepr.String(name)}");
                }
                else
                {
                    scope.Set(name, value);
                    bound[index] = true;
                }
            }

            for (var i = 0; i < parameters.Count; i++)
            {
                if (!bound[i])
                {
                    scope.Set(parameters[i].Name, parameters[i].Default is { } fallback
                        ? Evaluate(fallback, scope)
                        : JinjaUndefined.WithHint($"parameter {PyRepr.String(parameters[i].Name)} was not provided"));
                }
            }

            scope.Set("varargs", new PyTuple(arguments.Positional.Skip(parameters.Count).ToList()));
            scope.Set("kwargs", kwargs);
            if (caller is not null)
            {
                scope.Set("caller", caller);
            }

            return Capture(macro.Node.Body, scope);
        }
        finally
        {
            _callDepth--;
        }
    }

    private object? ApplyFilters(IReadOnlyList<FilterExpr> filters, object? value, Frame frame)
    {
        foreach (var filter in filters)
        {
            value = JinjaFilters.Apply(this, filter.Name, value, EvaluateArguments(filter.Arguments, frame));
        }

        return value;
    }

    // ----- globals -----

    private List<object?> Range(JinjaArguments args)
    {
        static long Integer(object? value) => value switch
        {
            long l => l,
            bool b => b ? 1 : 0,
            _ => throw PyOps.TypeError($"'{PyOps.TypeName(value)}' object cannot be interpreted as an integer"),
        };

        var bounds = args.Positional.Select(Integer).ToArray();
        var (start, stop, step) = bounds.Length switch
        {
            1 => (0L, bounds[0], 1L),
            2 => (bounds[0], bounds[1], 1L),
            3 => (bounds[0], bounds[1], bounds[2]),
            _ => throw PyOps.TypeError($"range expected 1 to 3 arguments, got {bounds.Length}"),
        };
        if (step == 0)
        {
            throw PyOps.ValueError("range() arg 3 must not be zero");
        }

        var count = step > 0 ? (stop > start ? ((stop - start - 1) / step) + 1 : 0) : (start > stop ? ((start - stop - 1) / -step) + 1 : 0);
        if (count > MaxRangeItems)
        {
            throw new ChatTemplateException(ChatTemplateErrorKind.LimitExceeded, $"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRangeItems}).");
        }

        var result = new List<object?>((int)count);
        for (var i = 0L; i < count; i++)
        {
            result.Add(start + (i * step));
        }

        return result;
    }

    private static Dictionary<string, object?> MakeDict(JinjaArguments args)
    {
        var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (args.Positional.Count > 0)
        {
            switch (args.Positional[0])
            {
                case Dictionary<string, object?> source:
                    foreach (var (key, value) in source)
                    {
                        dict[key] = value;
                    }

                    break;
                case var pairs:
                    foreach (var pair in PyOps.Iterate(pairs))
                    {
                        var items = PyOps.Iterate(pair);
                        if (items.Count != 2 || items[0] is not string key)
                        {
                            throw PyOps.ValueError("dictionary update sequence elements must be (str, value) pairs");
                        }

                        dict[key] = items[1];
                    }

                    break;
            }
        }

        foreach (var (key, value) in args.Keywords)
        {
            dict[key] = value;
        }

        return dict;
    }

    private static JinjaNamespace MakeNamespace(JinjaArguments args)
    {
        var ns = new JinjaNamespace();
        foreach (var (key, value) in MakeDict(args))
        {
            ns.Attributes[key] = value;
        }

        return ns;
    }
}
