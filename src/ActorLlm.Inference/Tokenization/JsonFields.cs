using System.Text.Json;

namespace ActorLlm.Inference.Tokenization;

/// <summary>Typed reads of tokenizer JSON values; a missing or mistyped field is a <see cref="ModelFormatException"/>.</summary>
internal static class JsonFields
{
    public static JsonElement Required(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value)
            ? value
            : throw new ModelFormatException($"missing field '{name}'");

    public static string RequiredString(JsonElement element, string name) =>
        OptionalString(element, name) ?? throw new ModelFormatException($"missing string field '{name}'");

    public static JsonElement? Optional(JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value)
            && value.ValueKind != JsonValueKind.Null
            ? value
            : null;

    public static string? OptionalString(JsonElement element, string name) => Optional(element, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } value => value.GetString(),
        _ => throw new ModelFormatException($"field '{name}' is not a string"),
    };

    public static bool? OptionalBool(JsonElement element, string name) => Optional(element, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw new ModelFormatException($"field '{name}' is not a boolean"),
    };

    /// <summary>An int or a list of ints (generation_config's eos_token_id may be either); empty when absent.</summary>
    public static List<int> IntOrIntList(JsonElement element, string name)
    {
        var result = new List<int>();
        switch (Optional(element, name))
        {
            case null:
                break;
            case { ValueKind: JsonValueKind.Number } number:
                result.Add(number.GetInt32());
                break;
            case { ValueKind: JsonValueKind.Array } array:
                foreach (var item in array.EnumerateArray())
                {
                    result.Add(item.ValueKind == JsonValueKind.Number
                        ? item.GetInt32()
                        : throw new ModelFormatException($"field '{name}' holds a non-integer"));
                }

                break;
            default:
                throw new ModelFormatException($"field '{name}' is neither an integer nor a list of integers");
        }

        return result;
    }

    /// <summary>
    /// The components of a tokenizer.json pipeline stage (normalizer, pre_tokenizer, post_processor, decoder) in
    /// order, each with its "type": nothing for null, the members of a "Sequence" (listed under
    /// <paramref name="sequenceMembers"/>) flattened recursively, else the element itself.
    /// </summary>
    public static IEnumerable<(string Type, JsonElement Element)> Components(JsonElement element, string sequenceMembers)
    {
        if (element.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
        {
            yield break;
        }

        var type = RequiredString(element, "type");
        if (type != "Sequence")
        {
            yield return (type, element);
            yield break;
        }

        foreach (var inner in Required(element, sequenceMembers).EnumerateArray())
        {
            foreach (var component in Components(inner, sequenceMembers))
            {
                yield return component;
            }
        }
    }

    /// <summary>
    /// A token written either as a string or as a serialized AddedToken object
    /// (<c>{"__type": "AddedToken", "content": "&lt;s&gt;", ...}</c>), as tokenizer_config.json does both.
    /// </summary>
    public static string? TokenContent(JsonElement element, string name) => Optional(element, name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } value => value.GetString(),
        { ValueKind: JsonValueKind.Object } value => OptionalString(value, "content"),
        _ => throw new ModelFormatException($"field '{name}' is neither a string nor a token object"),
    };
}
