using System.Text;
using System.Text.Json;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// The <c>normalizer</c> of a tokenizer.json, applied to each piece of input text between added tokens.
/// Supports what Llama-family tokenizers use: Sequence, Prepend, Replace (Llama 2's "▁" handling),
/// the Unicode normal forms (Qwen2 uses NFC), Lowercase and Strip.
/// </summary>
/// <remarks>
/// The normal forms are <see cref="UnicodeNormalizer"/>'s own tables, not .NET's <see cref="string.Normalize(NormalizationForm)"/>,
/// which returns its input unchanged under the build's InvariantGlobalization.
/// </remarks>
internal sealed class TextNormalizer
{
    private readonly Func<string, string>[] _steps;

    private TextNormalizer(Func<string, string>[] steps) => _steps = steps;

    public string Normalize(string text)
    {
        foreach (var step in _steps)
        {
            text = step(text);
        }

        return text;
    }

    /// <summary>Reads a tokenizer.json <c>normalizer</c> value (null means none).</summary>
    public static TextNormalizer Parse(JsonElement element)
    {
        var steps = new List<Func<string, string>>();
        AddSteps(element, steps);
        return new TextNormalizer([.. steps]);
    }

    private static void AddSteps(JsonElement element, List<Func<string, string>> steps)
    {
        foreach (var (type, component) in JsonFields.Components(element, "normalizers"))
        {
            switch (type)
            {
                case "Prepend":
                    // Hugging Face prepends only to non-empty text, so an empty prompt stays empty.
                    var prefix = JsonFields.RequiredString(component, "prepend");
                    steps.Add(text => text.Length == 0 ? text : prefix + text);
                    break;
                case "Replace":
                    steps.Add(ParseReplace(component));
                    break;
                case "NFC":
                    steps.Add(text => UnicodeNormalizer.Normalize(text, NormalizationForm.FormC));
                    break;
                case "NFD":
                    steps.Add(text => UnicodeNormalizer.Normalize(text, NormalizationForm.FormD));
                    break;
                case "NFKC":
                    steps.Add(text => UnicodeNormalizer.Normalize(text, NormalizationForm.FormKC));
                    break;
                case "NFKD":
                    steps.Add(text => UnicodeNormalizer.Normalize(text, NormalizationForm.FormKD));
                    break;
                case "Lowercase":
                    steps.Add(text => text.ToLowerInvariant());
                    break;
                case "Strip":
                    var left = JsonFields.OptionalBool(component, "strip_left") ?? true;
                    var right = JsonFields.OptionalBool(component, "strip_right") ?? true;
                    steps.Add(text => (left, right) switch
                    {
                        (true, true) => text.Trim(),
                        (true, false) => text.TrimStart(),
                        (false, true) => text.TrimEnd(),
                        _ => text,
                    });
                    break;
                default:
                    throw new ModelFormatException($"unsupported normalizer type '{type}'");
            }
        }
    }

    private static Func<string, string> ParseReplace(JsonElement element)
    {
        var content = JsonFields.RequiredString(element, "content");
        var pattern = JsonFields.Required(element, "pattern");
        if (pattern.TryGetProperty("String", out var literal))
        {
            var search = literal.GetString() ?? string.Empty;
            return text => search.Length == 0 ? text : text.Replace(search, content, StringComparison.Ordinal);
        }

        if (pattern.TryGetProperty("Regex", out var regexText))
        {
            var regex = CodePointRegex.Create(regexText.GetString() ?? string.Empty);
            return text => regex.Replace(text, content);
        }

        throw new ModelFormatException("Replace normalizer without a String or Regex pattern");
    }
}
