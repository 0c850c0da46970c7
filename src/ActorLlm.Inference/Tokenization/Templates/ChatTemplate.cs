using System.Text.Json;

namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>
/// A model's chat template: turns a conversation into the prompt text the model was trained on, exactly as
/// transformers' <c>tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=...)</c> does
/// (same Jinja dialect, same variables: <c>messages</c>, <c>add_generation_prompt</c>, the special tokens such as
/// <c>bos_token</c> and <c>eos_token</c>, <c>tools</c> and <c>documents</c> (None unless given), plus any extra
/// variables). The rendered text still goes through the tokenizer, which may add BOS itself.
/// Errors are <see cref="ChatTemplateException"/>s: <see cref="ChatTemplateException.IsTemplateError"/> is false when
/// the template rejected the conversation (<c>raise_exception</c>), true when the template is broken.
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>tokenizer_config.json's sibling that newer Hugging Face layouts store the template in (it wins over the config's).</summary>
    public const string TemplateFileName = "chat_template.jinja";

    /// <summary>
    /// The template <see cref="Fallback"/> uses for models that ship none (such as the bundled stories260K, a base model):
    /// the BOS token when the model has one (a rendered prompt gets no BOS added, and base models want it), one
    /// <c>role: content</c> line per message, then <c>assistant:</c> when a generation prompt is asked for.
    /// </summary>
    public const string FallbackSource =
        "{% if bos_token is defined %}{{ bos_token }}{% endif %}"
        + "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}"
        + "{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

    private static readonly string[] s_specialTokenNames = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

    private readonly JinjaTemplate _template;
    private readonly IReadOnlyDictionary<string, object?> _specialTokens;

    private ChatTemplate(JinjaTemplate template, IReadOnlyDictionary<string, object?> specialTokens, bool isFallback)
    {
        _template = template;
        _specialTokens = specialTokens;
        IsFallback = isFallback;
    }

    public string Source => _template.Source;

    public string? BosToken => _specialTokens.GetValueOrDefault("bos_token") as string;

    public string? EosToken => _specialTokens.GetValueOrDefault("eos_token") as string;

    /// <summary>True for <see cref="Fallback"/>'s template (the model shipped none).</summary>
    public bool IsFallback { get; }

    /// <summary>
    /// The chat template of a Hugging Face model directory, or null when it has none: <c>chat_template.jinja</c> if
    /// present, else tokenizer_config.json's <c>chat_template</c> (a string, or a list of <c>{name, template}</c> of
    /// which the one named "default" is used). Special tokens (<c>bos_token</c>, <c>eos_token</c>, <c>unk_token</c>,
    /// <c>pad_token</c>, ..., as a string or an AddedToken object) come from tokenizer_config.json.
    /// A malformed config is a <see cref="ModelFormatException"/>; a template that does not parse a <see cref="ChatTemplateException"/>.
    /// </summary>
    public static ChatTemplate? FromTokenizerConfig(string modelDirectory)
    {
        string? source = null;
        var specialTokens = new Dictionary<string, object?>(StringComparer.Ordinal);
        TokenizerConfigFiles.ReadIfPresent(modelDirectory, TokenizerConfigFiles.TokenizerConfigFile, root =>
        {
            source = ReadTemplate(root);
            foreach (var name in s_specialTokenNames)
            {
                if (JsonFields.TokenContent(root, name) is { } token)
                {
                    specialTokens[name] = token;
                }
            }

            if (JsonFields.Optional(root, "additional_special_tokens") is { ValueKind: JsonValueKind.Array } additional)
            {
                specialTokens["additional_special_tokens"] = additional.EnumerateArray()
                    .Select(token => (object?)(token.ValueKind == JsonValueKind.Object ? JsonFields.OptionalString(token, "content") : token.GetString()))
                    .ToList();
            }
        });

        var templateFile = Path.Combine(modelDirectory, TemplateFileName);
        if (File.Exists(templateFile))
        {
            try
            {
                source = File.ReadAllText(templateFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ModelFormatException($"{templateFile}: {e.Message}", e);
            }
        }

        return source is null ? null : new ChatTemplate(JinjaTemplate.Parse(source), specialTokens, isFallback: false);
    }

    private static string? ReadTemplate(JsonElement root)
    {
        switch (JsonFields.Optional(root, "chat_template"))
        {
            case null:
                return null;
            case { ValueKind: JsonValueKind.String } text:
                return text.GetString();
            case { ValueKind: JsonValueKind.Array } list:
                var names = new List<string>();
                foreach (var entry in list.EnumerateArray())
                {
                    var name = JsonFields.RequiredString(entry, "name");
                    if (name == "default")
                    {
                        return JsonFields.RequiredString(entry, "template");
                    }

                    names.Add(name);
                }

                throw new ModelFormatException(
                    $"tokenizer_config.json lists chat templates ({string.Join(", ", names)}) but none named 'default'");
            default:
                throw new ModelFormatException("field 'chat_template' is neither a string nor a list of {name, template}");
        }
    }

    /// <summary>Parses a template source with the given special tokens (null: the variable is undefined in the template, as in transformers).</summary>
    public static ChatTemplate Parse(string source, string? bosToken, string? eosToken) =>
        new(JinjaTemplate.Parse(source), Tokens(bosToken, eosToken), isFallback: false);

    /// <summary>The <see cref="FallbackSource"/> template, for models without a chat template of their own.</summary>
    public static ChatTemplate Fallback(string? bosToken = null, string? eosToken = null) =>
        new(JinjaTemplate.Parse(FallbackSource), Tokens(bosToken, eosToken), isFallback: true);

    private static Dictionary<string, object?> Tokens(string? bosToken, string? eosToken)
    {
        var tokens = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (bosToken is not null)
        {
            tokens["bos_token"] = bosToken;
        }

        if (eosToken is not null)
        {
            tokens["eos_token"] = eosToken;
        }

        return tokens;
    }

    /// <summary>
    /// Renders the conversation. <paramref name="extra"/> adds or overrides template variables (values: strings,
    /// numbers, booleans, null, lists, string-keyed dictionaries, <see cref="JsonElement"/>s): e.g. <c>tools</c> (a list of
    /// JSON schemas), <c>date_string</c>, <c>enable_thinking</c>.
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? extra = null) =>
        Render(messages, addGenerationPrompt, extra, null, null);

    internal string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt, IReadOnlyDictionary<string, object?>? extra,
        JinjaLimits? limits, Func<DateTime>? now)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, token) in _specialTokens)
        {
            variables[name] = token;
        }

        variables["messages"] = messages.Select(m => (object?)new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["role"] = m.Role,
            ["content"] = m.Content,
        }).ToList();
        variables["tools"] = null;
        variables["documents"] = null;
        variables["add_generation_prompt"] = addGenerationPrompt;
        if (extra is not null)
        {
            foreach (var (name, value) in extra)
            {
                variables[name] = value;
            }
        }

        return _template.Render(variables, limits, now);
    }
}
