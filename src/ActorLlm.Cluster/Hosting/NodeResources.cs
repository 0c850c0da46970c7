using ActorLlm.Cluster.Placement;
using ActorLlm.Cluster.Weights;
using ActorLlm.Inference;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Tokenization;

namespace ActorLlm.Cluster.Hosting;

/// <summary>
/// What a node prepares before its actor system starts: its unit store (a Hugging Face directory is served in place,
/// its manifest remembered in the cache), and on a gateway the tokenizer and the model's units for planning.
/// </summary>
public sealed class NodeResources : IDisposable
{
    private NodeResources(UnitStore? store, TextTokenizer? tokenizer, ModelUnits? model)
    {
        Store = store;
        Tokenizer = tokenizer;
        Model = model;
    }

    /// <summary>Null on a worker that fetches the model from peers, and on clients.</summary>
    public UnitStore? Store { get; }

    /// <summary>Gateways only.</summary>
    public TextTokenizer? Tokenizer { get; }

    /// <summary>Gateways only.</summary>
    public ModelUnits? Model { get; }

    public static NodeResources Prepare(ActorLlmSettings settings, Action<string>? log = null)
    {
        bool needsModel = settings.Node.IsGateway || settings.Node.IsWorker;
        if (!needsModel)
        {
            return new NodeResources(null, null, null);
        }

        if (string.IsNullOrEmpty(settings.Model.Store))
        {
            if (settings.Node.IsGateway)
            {
                throw new InvalidRequestException("a gateway needs a model (actorllm.model.store / --model): it tokenizes and plans");
            }

            return new NodeResources(null, null, null);
        }

        var store = ModelBootstrap.PrepareLocalStore(settings.Model.Store, settings.Model.CacheDir, log);
        try
        {
            if (!settings.Node.IsGateway)
            {
                return new NodeResources(store, null, null);
            }

            var tokenizer = TextTokenizer.Load(store.Directory);
            var model = ModelUnits.From(ModelIdentity.Of(store.Manifest), ModelInfo.Of(store));
            return new NodeResources(store, tokenizer, model);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    public void Dispose() => Store?.Dispose();
}
