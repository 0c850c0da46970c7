using ActorLlm.Cluster.Hosting;

namespace ActorLlm.Gateway.Api;

/// <summary>Builds the <see cref="ServedModel"/> of a gateway from its settings and prepared model.</summary>
public static class ServedModels
{
    public static ServedModel For(ActorLlmSettings settings, NodeResources resources)
    {
        var store = resources.Store ?? throw new ArgumentException("a gateway needs the model's store", nameof(resources));
        var tokenizer = resources.Tokenizer ?? throw new ArgumentException("a gateway needs the model's tokenizer", nameof(resources));
        var units = resources.Model ?? throw new ArgumentException("a gateway needs the model's units", nameof(resources));
        string name = settings.Http.ModelName.Length > 0
            ? settings.Http.ModelName
            : Path.GetFileName(settings.Model.Store.TrimEnd('/', '\\')) is { Length: > 0 } dir ? dir : units.ModelId.Value;
        int context = Math.Min(settings.Worker.MaxContext, store.Config.MaxPositionEmbeddings);
        long created = new DateTimeOffset(File.GetLastWriteTimeUtc(Path.Combine(store.Directory, Inference.Checkpoints.UnitStore.ManifestFile))).ToUnixTimeSeconds();
        return new ServedModel(name, units.ModelId.Value, created, context, tokenizer, PlainChat, "plain");
    }

    /// <summary>Until the chat templates land: "role: content" lines, then "assistant:".</summary>
    private static string PlainChat(IReadOnlyList<ApiMessage> messages, bool addGenerationPrompt) =>
        string.Concat(messages.Select(m => $"{m.Role}: {m.Content}\n")) + (addGenerationPrompt ? "assistant:" : "");
}
