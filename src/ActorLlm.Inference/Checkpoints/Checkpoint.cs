namespace ActorLlm.Inference.Checkpoints;

/// <summary>Opens whatever a model directory holds: a unit store (it has manifest.json) or a Hugging Face checkpoint.</summary>
public static class Checkpoint
{
    public static IWeightSource Open(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new ModelFormatException($"model directory '{directory}' does not exist");
        }

        return UnitStore.IsStore(directory) ? UnitStore.Open(directory) : HfCheckpoint.Open(directory);
    }
}
