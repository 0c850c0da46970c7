using System.Text;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference;
using ActorLlm.Inference.Tokenization;
using ActorLlm.Inference.Tokenization.Templates;
using Microsoft.AspNetCore.Http;

namespace ActorLlm.Gateway.Api;

/// <summary>Builds the <see cref="ServedModel"/> of a gateway from its settings and prepared model.</summary>
public static class ServedModels
{
    public static ServedModel For(ActorLlmSettings settings, NodeResources resources, Action<string>? log = null)
    {
        var store = resources.Store ?? throw new ArgumentException("a gateway needs the model's store", nameof(resources));
        var tokenizer = resources.Tokenizer ?? throw new ArgumentException("a gateway needs the model's tokenizer", nameof(resources));
        var units = resources.Model ?? throw new ArgumentException("a gateway needs the model's units", nameof(resources));
        string name = settings.Http.ModelName.Length > 0
            ? settings.Http.ModelName
            : Inference.Checkpoints.ModelLocation.DisplayName(settings.Model.Store) is { Length: > 0 } dir ? dir : units.ModelId.Value;
        int context = Math.Min(settings.Worker.MaxContext, store.Config.MaxPositionEmbeddings);
        long created = new DateTimeOffset(File.GetLastWriteTimeUtc(store.ManifestPath)).ToUnixTimeSeconds();
        var (render, source) = Chat(settings.Http.ChatTemplate, store.Directory, tokenizer, log);
        // The store's directory holds the model's generation_config.json: the Hugging Face directory itself, or a
        // store's copy (one pulled from a peer gets it with the manifest's side files).
        var defaults = Inference.Generation.GenerationDefaults.Load(store.Directory);
        return new ServedModel(name, units.ModelId.Value, created, context, tokenizer, render, source, defaults);
    }

    /// <summary>
    /// The chat template: http.chat-template's file, else the model's own, else <see cref="ChatTemplate.Fallback"/>
    /// with the tokenizer's BOS. A model whose template does not parse still serves completions; its chat requests
    /// answer 500 with the template's error (logged once at start). A template that rejects a conversation
    /// (raise_exception) is the request's fault: 400 with the template's message.
    /// </summary>
    internal static (Func<IReadOnlyList<ChatMessage>, bool, string> Render, string Source) Chat(string file, string modelDirectory, TextTokenizer tokenizer, Action<string>? log)
    {
        string? Token(int? id) => id is int t ? Encoding.UTF8.GetString(tokenizer.TokenBytes(t)) : null;
        string? bos = Token(tokenizer.BosId);
        string? eos = Token(tokenizer.EosIds.Count > 0 ? tokenizer.EosIds.Min() : null);
        ChatTemplate template;
        string source;
        try
        {
            if (file.Length > 0)
            {
                if (!File.Exists(file))
                {
                    throw new InvalidRequestException($"http.chat-template {file} does not exist");
                }

                template = ChatTemplate.Parse(File.ReadAllText(file), bos, eos);
                source = file;
            }
            else if (ChatTemplate.FromTokenizerConfig(modelDirectory) is { } own)
            {
                template = own;
                source = "the model's tokenizer_config.json";
            }
            else
            {
                template = ChatTemplate.Fallback(bos, eos);
                source = "the plain fallback (the model ships no chat template)";
            }
        }
        catch (ChatTemplateException e)
        {
            string broken = $"the chat template does not parse: {e.Message}";
            log?.Invoke($"warning: {broken}; chat completions will answer 500 (completions are unaffected)");
            return ((_, _) => throw new ApiException(StatusCodes.Status500InternalServerError, broken, ApiException.Server, code: "chat_template_error"), "broken");
        }

        log?.Invoke($"chat template: {source}");
        return ((messages, generation) =>
        {
            try
            {
                return template.Render(messages, generation);
            }
            catch (ChatTemplateException e) when (!e.IsTemplateError)
            {
                throw ApiException.BadRequest($"the model's chat template refused the conversation: {e.Detail}", "messages");
            }
            catch (ChatTemplateException e)
            {
                throw new ApiException(StatusCodes.Status500InternalServerError, $"the chat template failed: {e.Message}", ApiException.Server, code: "chat_template_error");
            }
        }, source);
    }
}
