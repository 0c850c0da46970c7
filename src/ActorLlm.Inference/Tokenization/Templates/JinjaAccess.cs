namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// <c>obj.name</c> and <c>obj[key]</c> as jinja2's ImmutableSandboxedEnvironment resolves them: attribute access tries
/// the Python attribute (a method of str/dict/list) first and then the item, subscript access the item first and then
/// the attribute; what is missing is undefined (not an error); methods that would mutate (<c>list.append</c>,
/// <c>dict.update</c>, ...) are unsafe and fail when called. Only the engine's own value types are reachable.
/// </summary>
internal static class JinjaAccess
{
    public static object? GetAttr(object? target, string name)
    {
        switch (target)
        {
            case JinjaUndefined undefined:
                throw undefined.Fail();
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out var attribute) ? attribute : JinjaUndefined.NoAttribute(target, name);
            case LoopContext loop:
                return loop.Attribute(name);
        }

        if (JinjaMethods.Bind(target, name) is { } method)
        {
            return method;
        }

        return target is Dictionary<string, object?> dict && dict.TryGetValue(name, out var value)
            ? value
            : JinjaUndefined.NoAttribute(target, name);
    }

    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case JinjaUndefined undefined:
                throw undefined.Fail();
            case Dictionary<string, object?> dict when key is string k && dict.TryGetValue(k, out var value):
                return value;
            case IReadOnlyList<object?> or string when key is long or bool:
                var index = key is bool b ? (b ? 1L : 0L) : (long)key;
                if (TryIndex(target, index, out var element))
                {
                    return element;
                }

                break;
        }

        if (key is string name)
        {
            switch (target)
            {
                case JinjaNamespace ns when ns.Attributes.TryGetValue(name, out var attribute):
                    return attribute;
                case LoopContext loop:
                    return loop.Attribute(name);
            }

            if (JinjaMethods.Bind(target, name) is { } method)
            {
                return method;
            }
        }

        return JinjaUndefined.NoAttribute(target, key);
    }

    private static bool TryIndex(object? target, long index, out object? element)
    {
        if (target is string s)
        {
            var characters = PyString.HasSurrogates(s) ? PyString.Characters(s) : null;
            var count = characters?.Count ?? s.Length;
            var i = index < 0 ? index + count : index;
            element = i >= 0 && i < count ? characters is null ? s[(int)i].ToString() : characters[(int)i] : null;
            return i >= 0 && i < count;
        }

        var list = (IReadOnlyList<object?>)target!;
        var j = index < 0 ? index + list.Count : index;
        element = j >= 0 && j < list.Count ? list[(int)j] : null;
        return j >= 0 && j < list.Count;
    }

    /// <summary>Python's <c>seq[start:stop:step]</c> on a list, tuple or str; anything else is undefined.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is JinjaUndefined undefined)
        {
            throw undefined.Fail();
        }

        var items = target switch
        {
            string s => PyString.Characters(s).Cast<object?>().ToList(),
            IReadOnlyList<object?> list => list,
            _ => null,
        };
        if (items is null)
        {
            return JinjaUndefined.WithHint($"{PyOps.TypeRepr(target)} cannot be sliced");
        }

        var stepValue = SliceBound(step) ?? 1;
        if (stepValue == 0)
        {
            throw PyOps.ValueError("slice step cannot be zero");
        }

        var count = items.Count;
        long Clamp(long? bound, long forward, long backward)
        {
            if (bound is not { } b)
            {
                return stepValue > 0 ? forward : backward;
            }

            if (b < 0)
            {
                b += count;
            }

            return stepValue > 0 ? Math.Clamp(b, 0, count) : Math.Clamp(b, -1, count - 1);
        }

        var from = Clamp(SliceBound(start), 0, count - 1);
        var to = Clamp(SliceBound(stop), count, -1);
        var result = new List<object?>();
        for (var i = from; stepValue > 0 ? i < to : i > to; i += stepValue)
        {
            result.Add(items[(int)i]);
        }

        return target switch
        {
            string => string.Concat(result.Cast<string>()),
            PyTuple => new PyTuple(result),
            _ => result,
        };
    }

    private static long? SliceBound(object? value) => value switch
    {
        null => null,
        long l => l,
        bool b => b ? 1 : 0,
        JinjaUndefined u => throw u.Fail(),
        _ => throw PyOps.TypeError("slice indices must be integers or None"),
    };
}
