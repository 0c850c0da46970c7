namespace ActorLlm.Protocol;

/// <summary>Why a generation ended.</summary>
public enum FinishReason
{
    /// <summary>Reached the requested number of tokens.</summary>
    Length,

    /// <summary>The model emitted an end-of-sequence token.</summary>
    Eos,

    /// <summary>A stop string appeared.</summary>
    Stop,

    /// <summary>The context is full.</summary>
    Context,
}
