using ActorLlm.Inference.Tokenization;
using ActorLlm.Inference.Tokenization.Templates;

namespace ActorLlm.Gateway.Api;

/// <summary>
/// The model a gateway serves, as the API names and describes it: its name (<c>http.model-name</c>, or the model
/// directory's name), its content id (also accepted as a name), the context the stages hold, the tokenizer, and the
/// chat template that turns messages into a prompt.
/// </summary>
/// <param name="RenderChat">Messages and add_generation_prompt to the rendered prompt (errors are ApiExceptions).</param>
public sealed record ServedModel(
    string Name,
    string Id,
    long Created,
    int ContextLimit,
    TextTokenizer Tokenizer,
    Func<IReadOnlyList<ChatMessage>, bool, string> RenderChat,
    string ChatTemplateSource,
    Inference.Generation.GenerationDefaults? GenerationDefaults = null)
{
    /// <summary>The model's generation_config.json defaults (none when it has no such file).</summary>
    public Inference.Generation.GenerationDefaults Defaults => GenerationDefaults ?? Inference.Generation.GenerationDefaults.None;

    /// <summary>Whether a request's <c>model</c> names this model (its name or its id).</summary>
    public bool IsNamed(string model) => model == Name || model == Id;

    /// <summary>Throws the 404 OpenAI answers for a model it does not serve.</summary>
    public void Require(string model)
    {
        if (!IsNamed(model))
        {
            throw new ApiException(404, $"The model '{model}' does not exist: this pool serves '{Name}'", ApiException.InvalidRequest, "model", "model_not_found");
        }
    }
}
