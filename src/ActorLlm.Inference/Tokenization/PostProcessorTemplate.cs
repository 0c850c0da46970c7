using System.Text.Json;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// The special tokens a tokenizer.json <c>post_processor</c> puts around a single sequence: Llama 2 and
/// Llama 3 use TemplateProcessing (<c>&lt;s&gt; $A</c>, <c>&lt;|begin_of_text|&gt; $A</c>), often inside a
/// Sequence with ByteLevel (which adds no ids); Roberta/Bert processing put cls before and sep after.
/// </summary>
internal sealed record PostProcessorTemplate(IReadOnlyList<int> Prefix, IReadOnlyList<int> Suffix)
{
    /// <param name="element">The <c>post_processor</c> value (null: no special tokens).</param>
    public static PostProcessorTemplate Parse(JsonElement element)
    {
        var prefix = new List<int>();
        var suffix = new List<int>();
        Add(element, prefix, suffix);
        return new PostProcessorTemplate(prefix, suffix);
    }

    private static void Add(JsonElement element, List<int> prefix, List<int> suffix)
    {
        foreach (var (type, component) in JsonFields.Components(element, "processors"))
        {
            switch (type)
            {
                case "ByteLevel":
                    break; // adjusts offsets only
                case "TemplateProcessing":
                    AddTemplate(component, prefix, suffix);
                    break;
                case "RobertaProcessing" or "BertProcessing":
                    // {"cls": ["<s>", 0], "sep": ["</s>", 2]}: the id is written beside the token.
                    prefix.Add(JsonFields.Required(component, "cls")[1].GetInt32());
                    suffix.Add(JsonFields.Required(component, "sep")[1].GetInt32());
                    break;
                default:
                    throw new ModelFormatException($"unsupported post_processor type '{type}'");
            }
        }
    }

    /// <summary>
    /// "single": [{"SpecialToken": {"id": "&lt;s&gt;"}}, {"Sequence": {"id": "A"}}], where each special
    /// token's ids are listed under "special_tokens".
    /// </summary>
    private static void AddTemplate(JsonElement element, List<int> prefix, List<int> suffix)
    {
        var specialTokens = JsonFields.Optional(element, "special_tokens");
        var target = prefix;
        foreach (var piece in JsonFields.Required(element, "single").EnumerateArray())
        {
            if (piece.TryGetProperty("Sequence", out _))
            {
                target = suffix;
                continue;
            }

            var name = JsonFields.RequiredString(JsonFields.Required(piece, "SpecialToken"), "id");
            if (specialTokens is not { } map || !map.TryGetProperty(name, out var special))
            {
                throw new ModelFormatException($"post_processor template names special token '{name}' but does not define it");
            }

            foreach (var id in JsonFields.Required(special, "ids").EnumerateArray())
            {
                target.Add(id.GetInt32());
            }
        }
    }
}
