namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>What went wrong in a chat template, so the caller can tell the request's fault from the model's.</summary>
public enum ChatTemplateErrorKind
{
    /// <summary>The template does not parse (or uses a tag, filter or test this engine does not have).</summary>
    Syntax,

    /// <summary>The template called <c>raise_exception(message)</c>: it rejects these messages (bad roles, order, ...).</summary>
    Raised,

    /// <summary>The template failed while rendering (an undefined value used, a type error, ...).</summary>
    Runtime,

    /// <summary>Rendering ran past a safety limit (output size, loop iterations, recursion depth, time).</summary>
    LimitExceeded,
}

/// <summary>
/// A chat template failed to parse or render. <see cref="IsTemplateError"/> says whose fault it is:
/// false only for <see cref="ChatTemplateErrorKind.Raised"/> (the template itself rejected the conversation, a
/// request error: HTTP 400); true for a template that does not parse, fails at run time or runs past a limit
/// (the model's template is broken or unsupported: HTTP 500). The message is jinja2's where it matters
/// (<c>raise_exception</c>'s message verbatim) and names the line for syntax errors.
/// </summary>
public sealed class ChatTemplateException : Exception
{
    public ChatTemplateException(ChatTemplateErrorKind kind, string message, int? line = null, Exception? inner = null)
        : base(line is { } l && kind == ChatTemplateErrorKind.Syntax ? $"{message} (line {l})" : message, inner)
    {
        Kind = kind;
        Line = line;
        Detail = message;
    }

    public ChatTemplateErrorKind Kind { get; }

    /// <summary>The template line the error was found on (syntax errors), when known.</summary>
    public int? Line { get; }

    /// <summary>The message without the line suffix (for <see cref="ChatTemplateErrorKind.Raised"/>: exactly what the template passed).</summary>
    public string Detail { get; }

    /// <summary>True when the template is at fault (syntax, runtime, limits); false when it rejected the conversation.</summary>
    public bool IsTemplateError => Kind != ChatTemplateErrorKind.Raised;
}
