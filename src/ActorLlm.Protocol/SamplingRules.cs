namespace ActorLlm.Protocol;

/// <summary>
/// The domain of each sampling parameter, in one place: the inference core refuses a request outside it
/// (InvalidRequestException, at the job's edge) and the wire refuses a step outside it (WireFormatException).
/// </summary>
public static class SamplingRules
{
    /// <summary>Null when every value is in its domain, else what is wrong.</summary>
    public static string? Problem(float temperature, int topK, float topP, float repetitionPenalty)
    {
        if (!float.IsFinite(temperature) || temperature < 0)
        {
            return $"temperature must be a finite number >= 0, got {temperature}";
        }

        if (topK < 0)
        {
            return $"top-k must be >= 0, got {topK}";
        }

        if (!float.IsFinite(topP) || topP <= 0 || topP > 1)
        {
            return $"top-p must be in (0, 1], got {topP}";
        }

        if (!float.IsFinite(repetitionPenalty) || repetitionPenalty <= 0)
        {
            return $"repetition penalty must be > 0, got {repetitionPenalty}";
        }

        return null;
    }
}
