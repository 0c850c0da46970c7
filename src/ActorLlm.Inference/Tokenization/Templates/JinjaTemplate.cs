namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// Bounds on what rendering one template may cost, so that an untrusted template cannot hang or exhaust the process:
/// every violation is a <see cref="ChatTemplateException"/> of kind <see cref="ChatTemplateErrorKind.LimitExceeded"/>.
/// </summary>
public sealed record JinjaLimits
{
    /// <summary>Depth of nested lists/dicts walked recursively (printing, <c>tojson</c>, <c>==</c>) and passed in.</summary>
    internal const int MaxValueDepth = 200;

    /// <summary>Nesting of tags and expressions in the template source.</summary>
    internal const int MaxSyntaxDepth = 100;

    public static JinjaLimits Default { get; } = new();

    /// <summary>Characters rendered in all, counting the bodies of macros, block sets and filter blocks.</summary>
    public int MaxOutputChars { get; init; } = 16 * 1024 * 1024;

    /// <summary>Length of any one string built by an operator or filter (<c>~</c>, <c>+</c>, <c>*</c>, <c>join</c>, ...).</summary>
    public int MaxStringChars { get; init; } = 8 * 1024 * 1024;

    /// <summary>Items in a list built by <c>+</c>, <c>*</c> or <c>range</c> (which jinja2's sandbox bounds at 100000 itself).</summary>
    public int MaxCollectionItems { get; init; } = 1_000_000;

    /// <summary>Loop iterations in all (for loops and filters that walk sequences).</summary>
    public long MaxLoopIterations { get; init; } = 1_000_000;

    /// <summary>Nested macro calls.</summary>
    public int MaxCallDepth { get; init; } = 64;

    /// <summary>Wall-clock time for one render.</summary>
    public TimeSpan MaxRenderTime { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// A Jinja template in the dialect Hugging Face chat templates are written for: jinja2 as transformers configures it
/// (<c>ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)</c> with the loopcontrols extension,
/// a Python <c>json.dumps</c> <c>tojson</c>, and the globals <c>raise_exception(message)</c> and
/// <c>strftime_now(format)</c>). Parse once, render many times; a parsed template is immutable and thread-safe.
/// Values are the engine's own: string, long, double, bool, null, <c>List&lt;object?&gt;</c>,
/// <c>Dictionary&lt;string, object?&gt;</c> (see <see cref="JinjaValues"/>); nothing else is reachable from a template.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly IReadOnlyList<Node> _body;

    private JinjaTemplate(string source, IReadOnlyList<Node> body)
    {
        Source = source;
        _body = body;
    }

    public string Source { get; }

    /// <summary>Parses <paramref name="source"/>; a syntax error (or an unknown filter or test) is a <see cref="ChatTemplateException"/> naming the line.</summary>
    public static JinjaTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new JinjaTemplate(source, JinjaParser.Parse(source));
    }

    /// <summary>Renders with <paramref name="variables"/> as the template's context (values converted by <see cref="JinjaValues.FromDotNet(object?)"/>).</summary>
    public string Render(IDictionary<string, object?> variables) => Render(variables, null, null);

    /// <summary>Renders with explicit limits and the clock <c>strftime_now</c> reads (local time by default).</summary>
    public string Render(IDictionary<string, object?> variables, JinjaLimits? limits, Func<DateTime>? now = null)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var context = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in variables)
        {
            context[name] = JinjaValues.FromDotNet(value);
        }

        return new JinjaRenderer(context, limits ?? JinjaLimits.Default, now ?? (() => DateTime.Now)).Render(_body);
    }
}
