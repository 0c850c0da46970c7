using ActorLlm.Gateway.Api;
using ActorLlm.Inference;
using ActorLlm.Inference.Tokenization;
using ActorLlm.Inference.Tokenization.Templates;
using ActorLlm.Testing;
using Xunit;

namespace ActorLlm.Gateway.Tests;

/// <summary>Which chat template a gateway uses, and how its errors reach the client.</summary>
public sealed class ChatTemplateChoiceTests
{
    private static readonly TextTokenizer s_tokenizer = TextTokenizer.Load(RepoPaths.Stories260K);

    private static string Template(string name) => Path.Combine(RepoPaths.FixturesDir, "chat-templates", name + ".jinja");

    [Fact]
    public void A_model_without_a_template_gets_the_plain_one_with_its_BOS()
    {
        var logs = new List<string>();
        var (render, source) = ServedModels.Chat("", RepoPaths.Stories260K, s_tokenizer, logs.Add);
        Assert.Contains("fallback", source);
        Assert.Equal("<s>user: Hi\nassistant:", render([new ChatMessage("user", "Hi")], true));
        Assert.Contains(logs, l => l.Contains("fallback", StringComparison.Ordinal));
    }

    [Fact]
    public void A_configured_template_file_wins_and_a_conversation_it_rejects_is_a_400()
    {
        var (render, source) = ServedModels.Chat(Template("llama-2-chat"), RepoPaths.Stories260K, s_tokenizer, null);
        Assert.EndsWith("llama-2-chat.jinja", source);
        Assert.Equal("<s>[INST] Hi [/INST]", render([new ChatMessage("user", "Hi")], true));

        // Llama 2's template raises when roles do not alternate: the request's fault, with the template's words.
        var e = Assert.Throws<ApiException>(() => render([new ChatMessage("user", "a"), new ChatMessage("user", "b")], true));
        Assert.Equal(400, e.Status);
        Assert.Equal("messages", e.Param);
        Assert.Contains("alternate", e.Message);
    }

    [Fact]
    public void A_template_that_does_not_parse_leaves_completions_alone_and_answers_chat_with_500()
    {
        using var dir = new TempDir();
        string broken = Path.Combine(dir.Path, "broken.jinja");
        File.WriteAllText(broken, "{% for m in messages %}{{ m.content ");
        var logs = new List<string>();
        var (render, source) = ServedModels.Chat(broken, RepoPaths.Stories260K, s_tokenizer, logs.Add);
        Assert.Equal("broken", source);
        Assert.Contains(logs, l => l.Contains("does not parse", StringComparison.Ordinal));
        var e = Assert.Throws<ApiException>(() => render([new ChatMessage("user", "Hi")], true));
        Assert.Equal(500, e.Status);
        Assert.Equal("chat_template_error", e.Code);
    }

    [Fact]
    public void A_missing_template_file_is_a_clear_error_at_start() =>
        Assert.Contains("/nonexistent.jinja", Assert.Throws<InvalidRequestException>(() => ServedModels.Chat("/nonexistent.jinja", RepoPaths.Stories260K, s_tokenizer, null)).Message);
}
