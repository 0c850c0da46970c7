namespace ActorLlm.Inference.Tokenization.Templates;

internal sealed partial class JinjaRenderer
{
    private object? Evaluate(Expr expr, Frame frame)
    {
        switch (expr)
        {
            case ConstExpr constant:
                return constant.Value;
            case NameExpr name:
                return Lookup(name.Name, frame);
            case ListExpr list:
                return list.Items.Select(item => Evaluate(item, frame)).ToList();
            case TupleExpr tuple:
                return new PyTuple(tuple.Items.Select(item => Evaluate(item, frame)).ToList());
            case DictExpr dict:
                return EvaluateDict(dict, frame);
            case GetAttrExpr attribute:
                return JinjaAccess.GetAttr(Evaluate(attribute.Target, frame), attribute.Name);
            case GetItemExpr { Key: SliceExpr slice } item:
                return JinjaAccess.Slice(Evaluate(item.Target, frame), EvaluateOptional(slice.Start, frame),
                    EvaluateOptional(slice.Stop, frame), EvaluateOptional(slice.Step, frame));
            case GetItemExpr item:
                return JinjaAccess.GetItem(Evaluate(item.Target, frame), Evaluate(item.Key, frame));
            case CallExpr call:
                return Call(Evaluate(call.Callee, frame), EvaluateArguments(call.Arguments, frame));
            case FilterExpr filter:
                return JinjaFilters.Apply(this, filter.Name, filter.Value is null ? null : Evaluate(filter.Value, frame), EvaluateArguments(filter.Arguments, frame));
            case TestExpr test:
                return JinjaTests.Apply(test.Name, Evaluate(test.Value, frame), EvaluateArguments(test.Arguments, frame));
            case UnaryExpr unary:
                var operand = Evaluate(unary.Operand, frame);
                return unary.Operator == "-" ? PyOps.Negate(operand) : PyOps.Plus(operand);
            case BinaryExpr binary:
                return PyOps.Arithmetic(binary.Operator, Evaluate(binary.Left, frame), Evaluate(binary.Right, frame), Limits);
            case ConcatExpr concat:
                var text = string.Concat(concat.Parts.Select(part => PyOps.Str(Evaluate(part, frame))));
                CheckString(text.Length);
                return text;
            case CompareExpr compare:
                return EvaluateCompare(compare, frame);
            case AndExpr and:
                var left = Evaluate(and.Left, frame);
                return PyOps.Truthy(left) ? Evaluate(and.Right, frame) : left;
            case OrExpr or:
                var first = Evaluate(or.Left, frame);
                return PyOps.Truthy(first) ? first : Evaluate(or.Right, frame);
            case NotExpr not:
                return !PyOps.Truthy(Evaluate(not.Operand, frame));
            case CondExpr conditional:
                if (PyOps.Truthy(Evaluate(conditional.Test, frame)))
                {
                    return Evaluate(conditional.Then, frame);
                }

                return conditional.Else is null
                    ? JinjaUndefined.WithHint($"the inline if-expression on line {conditional.Line} evaluated to false and no else section was defined.")
                    : Evaluate(conditional.Else, frame);
            case NamespaceRefExpr reference:
                return JinjaAccess.GetAttr(Lookup(reference.Name, frame), reference.Attribute);
            default:
                throw new InvalidOperationException($"unknown expression {expr.GetType().Name}");
        }
    }

    private object? EvaluateOptional(Expr? expr, Frame frame) => expr is null ? null : Evaluate(expr, frame);

    /// <summary>A name: the innermost scope that has it, then the render context, then the globals; else undefined.</summary>
    private object? Lookup(string name, Frame frame)
    {
        if (frame.TryGet(name, out var value) || _context.TryGetValue(name, out value) || _globals.TryGetValue(name, out value))
        {
            return value;
        }

        return JinjaUndefined.Missing(name);
    }

    private Dictionary<string, object?> EvaluateDict(DictExpr dict, Frame frame)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (keyExpr, valueExpr) in dict.Items)
        {
            var key = Evaluate(keyExpr, frame);
            if (key is not string name)
            {
                throw new ChatTemplateException(ChatTemplateErrorKind.Runtime,
                    $"dict keys must be strings in this engine, got {PyOps.TypeName(key)}");
            }

            result[name] = Evaluate(valueExpr, frame);
        }

        return result;
    }

    public JinjaArguments EvaluateArguments(CallArguments arguments, Frame frame)
    {
        if (arguments.Positional.Count == 0 && arguments.Keywords.Count == 0)
        {
            return JinjaArguments.None;
        }

        return new JinjaArguments(
            arguments.Positional.Select(argument => Evaluate(argument, frame)).ToList(),
            arguments.Keywords.Select(keyword => new KeyValuePair<string, object?>(keyword.Name, Evaluate(keyword.Value, frame))).ToList());
    }

    private object? Call(object? callee, JinjaArguments arguments) => callee switch
    {
        JinjaCallable callable => callable.Call(this, arguments),
        JinjaUndefined undefined => throw undefined.Fail(),
        _ => throw PyOps.TypeError($"'{PyOps.TypeName(callee)}' object is not callable"),
    };

    private bool EvaluateCompare(CompareExpr compare, Frame frame)
    {
        var left = Evaluate(compare.First, frame);
        foreach (var (op, operandExpr) in compare.Rest)
        {
            var right = Evaluate(operandExpr, frame);
            var holds = op switch
            {
                "==" => PyOps.Equal(left, right),
                "!=" => !PyOps.Equal(left, right),
                "in" => PyOps.Contains(right, left),
                "notin" => !PyOps.Contains(right, left),
                "<" => PyOps.Compare(left, right, op) is -1,
                "<=" => PyOps.Compare(left, right, op) is -1 or 0,
                ">" => PyOps.Compare(left, right, op) is 1,
                _ => PyOps.Compare(left, right, op) is 1 or 0,
            };
            if (!holds)
            {
                return false;
            }

            left = right;
        }

        return true;
    }
}
