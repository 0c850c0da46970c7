namespace ActorLlm.Inference;

/// <summary>
/// A model directory, unit store or checkpoint file that cannot be used: missing or unreadable files,
/// malformed headers, unsupported architectures. The message names the file and what is wrong with it.
/// </summary>
public sealed class ModelFormatException : Exception
{
    public ModelFormatException(string message)
        : base(message)
    {
    }

    public ModelFormatException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>
/// A request that cannot be served as given: token ids outside the vocabulary, a prompt longer than the
/// context, invalid UTF-8, wrong tensor shapes, non-finite activations. Nothing is changed by a rejected
/// request; the caller may correct it and try again.
/// </summary>
public sealed class InvalidRequestException : Exception
{
    public InvalidRequestException(string message)
        : base(message)
    {
    }

    public InvalidRequestException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
