using System.Text.Json;
using ActorLlm.Inference.Tokenization.Templates;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization.Templates;

/// <summary>
/// Real chat templates (tests/fixtures/chat-templates/*.jinja, sources in SOURCES.md) rendered over a set of
/// conversations must match, byte for byte, what transformers' apply_chat_template(tokenize=False) produced for them
/// (goldens.json, written by scripts/gpu/chat_template_goldens.py); where transformers raised, the engine must raise
/// too: raise_exception with the same message, anything else as a template error.
/// </summary>
public class ChatTemplateGoldenTests
{
    private static readonly string s_directory = Path.Combine(RepoPaths.FixturesDir, "chat-templates");

    private static readonly Lazy<JsonDocument> s_goldens = new(() => JsonDocument.Parse(File.ReadAllText(Path.Combine(s_directory, "goldens.json"))));

    private static JsonElement Root => s_goldens.Value.RootElement;

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var testCase in Root.GetProperty("cases").EnumerateArray())
        {
            data.Add(testCase.GetProperty("template").GetString()!, testCase.GetProperty("conversation").GetString()!);
        }

        return data;
    }

    [Fact]
    public void Goldens_come_from_transformers_and_cover_at_least_ten_templates()
    {
        Assert.Equal("transformers", Root.GetProperty("generator").GetProperty("mode").GetString());
        Assert.True(Root.GetProperty("templates").EnumerateObject().Count() >= 10);
        Assert.True(Root.GetProperty("conversations").EnumerateObject().Count() >= 6);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_like_transformers(string template, string conversation)
    {
        var testCase = Root.GetProperty("cases").EnumerateArray()
            .Single(c => c.GetProperty("template").GetString() == template && c.GetProperty("conversation").GetString() == conversation);
        var templateInfo = Root.GetProperty("templates").GetProperty(template);
        var conversationInfo = Root.GetProperty("conversations").GetProperty(conversation);

        var source = File.ReadAllText(Path.Combine(s_directory, templateInfo.GetProperty("file").GetString()!));
        var chatTemplate = ChatTemplate.Parse(source, OptionalString(templateInfo, "bos_token"), OptionalString(templateInfo, "eos_token"));
        var messages = conversationInfo.GetProperty("messages").EnumerateArray()
            .Select(message => new ChatMessage(message.GetProperty("role").GetString()!, message.GetProperty("content").GetString()!))
            .ToList();
        var extra = new Dictionary<string, object?>();
        foreach (var token in templateInfo.GetProperty("special_tokens").EnumerateObject())
        {
            extra[token.Name] = JinjaValues.FromJson(token.Value);
        }

        foreach (var kwarg in conversationInfo.GetProperty("kwargs").EnumerateObject())
        {
            extra[kwarg.Name] = JinjaValues.FromJson(kwarg.Value);
        }

        extra["tools"] = JinjaValues.FromJson(conversationInfo.GetProperty("tools"));
        var addGenerationPrompt = conversationInfo.GetProperty("add_generation_prompt").GetBoolean();

        if (testCase.TryGetProperty("output", out var expected))
        {
            var actual = chatTemplate.Render(messages, addGenerationPrompt, extra);
            Assert.Equal(expected.GetString(), actual);
            return;
        }

        var error = testCase.GetProperty("error");
        var exception = Assert.Throws<ChatTemplateException>(() => chatTemplate.Render(messages, addGenerationPrompt, extra));
        if (error.GetProperty("type").GetString() == "TemplateError")
        {
            Assert.Equal(ChatTemplateErrorKind.Raised, exception.Kind);
            Assert.False(exception.IsTemplateError);
            Assert.Equal(error.GetProperty("message").GetString(), exception.Message);
        }
        else
        {
            Assert.True(exception.IsTemplateError, exception.Message);
        }
    }

    private static string? OptionalString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
