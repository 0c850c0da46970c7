using ActorLlm.Inference.Tokenization.Templates;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization.Templates;

/// <summary>ChatTemplate's loading and variables, the fallback template, transformers' globals, and the safety limits.</summary>
public class ChatTemplateTests
{
    private static readonly ChatMessage[] s_conversation = [new("system", "Be brief."), new("user", "Hi")];

    [Fact]
    public void Render_passes_messages_special_tokens_and_generation_prompt()
    {
        var template = ChatTemplate.Parse(
            "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m['content'] }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
            "<s>", "</s>");

        Assert.Equal("<s><system>Be brief.</s><user>Hi</s><assistant>", template.Render(s_conversation, addGenerationPrompt: true));
        Assert.Equal("<s><system>Be brief.</s><user>Hi</s>", template.Render(s_conversation, addGenerationPrompt: false));
    }

    [Fact]
    public void Missing_special_tokens_are_undefined_and_tools_is_none_unless_given()
    {
        var template = ChatTemplate.Parse("[{{ bos_token }}|{{ bos_token is defined }}|{{ tools is none }}|{{ tools is defined }}]", null, null);
        Assert.Equal("[|False|True|True]", template.Render(s_conversation, false));

        var tools = new List<object?> { new Dictionary<string, object?> { ["name"] = "f" } };
        var withTools = ChatTemplate.Parse("{{ tools | tojson }} {{ date_string }}", null, null);
        Assert.Equal("[{\"name\": \"f\"}] 1 May 2025", withTools.Render(s_conversation, false, new Dictionary<string, object?> { ["tools"] = tools, ["date_string"] = "1 May 2025" }));
    }

    [Fact]
    public void Raise_exception_is_a_request_error_with_the_templates_message()
    {
        var template = ChatTemplate.Parse("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}", null, null);
        var exception = Assert.Throws<ChatTemplateException>(() => template.Render(s_conversation, true));
        Assert.Equal(ChatTemplateErrorKind.Raised, exception.Kind);
        Assert.False(exception.IsTemplateError);
        Assert.Equal("System role not supported", exception.Message);
    }

    [Fact]
    public void A_template_that_does_not_parse_names_its_line()
    {
        var exception = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse("line one\n{% for m in messages %}\n{{ m.content }", null, null));
        Assert.Equal(ChatTemplateErrorKind.Syntax, exception.Kind);
        Assert.True(exception.IsTemplateError);
        Assert.Equal(3, exception.Line);
        Assert.Contains("line 3", exception.Message);
    }

    [Fact]
    public void Fallback_renders_role_lines_then_the_assistant_prompt()
    {
        var fallback = ChatTemplate.Fallback();
        Assert.True(fallback.IsFallback);
        Assert.Equal("system: Be brief.\nuser: Hi\nassistant:", fallback.Render(s_conversation, addGenerationPrompt: true));
        Assert.Equal("system: Be brief.\nuser: Hi\n", fallback.Render(s_conversation, addGenerationPrompt: false));
        Assert.Equal("<s>system: Be brief.\nuser: Hi\nassistant:", ChatTemplate.Fallback("<s>", "</s>").Render(s_conversation, addGenerationPrompt: true));
    }

    [Fact]
    public void Strftime_now_formats_the_clock_like_python()
    {
        var template = JinjaTemplate.Parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %B %-d, %H:%M:%S %p %j %y %%') }}");
        var now = new DateTime(2025, 3, 5, 14, 7, 9);
        Assert.Equal("05 Mar 2025|Wednesday March 5, 14:07:09 PM 064 25 %", template.Render(new Dictionary<string, object?>(), null, () => now));
    }

    [Fact]
    public void From_tokenizer_config_reads_a_string_template_and_token_objects()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), """
            {"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>", "unk_token": null,
             "chat_template": "{{ bos_token }}{{ messages[0]['content'] }}{{ eos_token }}"}
            """);
        var template = ChatTemplate.FromTokenizerConfig(dir.Path)!;
        Assert.Equal("<s>", template.BosToken);
        Assert.Equal("</s>", template.EosToken);
        Assert.Equal("<s>Be brief.</s>", template.Render(s_conversation, false));
    }

    [Fact]
    public void From_tokenizer_config_picks_the_default_of_named_templates()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), """
            {"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain"}]}
            """);
        Assert.Equal("plain", ChatTemplate.FromTokenizerConfig(dir.Path)!.Render(s_conversation, false));

        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), """{"chat_template": [{"name": "rag", "template": "x"}]}""");
        Assert.Throws<ModelFormatException>(() => ChatTemplate.FromTokenizerConfig(dir.Path));
    }

    [Fact]
    public void A_chat_template_jinja_file_wins_over_the_config()
    {
        using var dir = new TempDir();
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), """{"chat_template": "from config", "eos_token": "</s>"}""");
        File.WriteAllText(Path.Combine(dir.Path, ChatTemplate.TemplateFileName), "from file{{ eos_token }}\n");
        Assert.Equal("from file</s>", ChatTemplate.FromTokenizerConfig(dir.Path)!.Render(s_conversation, false));
    }

    [Fact]
    public void A_model_without_a_template_has_none()
    {
        using var dir = new TempDir();
        Assert.Null(ChatTemplate.FromTokenizerConfig(dir.Path));
        File.WriteAllText(Path.Combine(dir.Path, "tokenizer_config.json"), """{"bos_token": "<s>"}""");
        Assert.Null(ChatTemplate.FromTokenizerConfig(dir.Path));
        Assert.Null(ChatTemplate.FromTokenizerConfig(RepoPaths.Stories260K));
    }

    [Fact]
    public void Only_the_engines_own_value_types_reach_a_template()
    {
        var template = JinjaTemplate.Parse("{{ x }}");
        Assert.Throws<ArgumentException>(() => template.Render(new Dictionary<string, object?> { ["x"] = new Uri("http://example.com") }));
        Assert.Equal("[1, 2.5, 'a', None]", template.Render(new Dictionary<string, object?> { ["x"] = new object?[] { 1, 2.5f, "a", null } }));
    }

    [Theory]
    [InlineData("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(10) %}{% endfor %}{% endfor %}{% endfor %}", "loop iterations")]
    [InlineData("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "macros nest deeper")]
    [InlineData("{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "would exceed")]
    [InlineData("{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}", "would exceed")]
    [InlineData("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "rendered more than")]
    [InlineData("{{ range(100001) | length }}", "Range too big")]
    [InlineData("{{ 'a' * 100000000 }}", "would exceed")]
    [InlineData("{% set ns = namespace(v=1) %}{% for i in range(300) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v }}", "nested deeper")]
    public void Runaway_templates_stop_with_a_limit_error(string source, string message)
    {
        var template = JinjaTemplate.Parse(source);
        var exception = Assert.Throws<ChatTemplateException>(() => template.Render(new Dictionary<string, object?>()));
        Assert.Equal(ChatTemplateErrorKind.LimitExceeded, exception.Kind);
        Assert.True(exception.IsTemplateError);
        Assert.Contains(message, exception.Message);
    }

    [Fact]
    public void Deeply_nested_source_is_a_syntax_error_not_a_stack_overflow()
    {
        var source = "{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}";
        var exception = Assert.Throws<ChatTemplateException>(() => JinjaTemplate.Parse(source));
        Assert.Equal(ChatTemplateErrorKind.Syntax, exception.Kind);

        var nestedIfs = string.Concat(Enumerable.Repeat("{% if true %}", 5000)) + string.Concat(Enumerable.Repeat("{% endif %}", 5000));
        Assert.Equal(ChatTemplateErrorKind.Syntax, Assert.Throws<ChatTemplateException>(() => JinjaTemplate.Parse(nestedIfs)).Kind);
    }

    [Fact]
    public void The_time_limit_applies()
    {
        var template = JinjaTemplate.Parse("{% for i in range(100000) %}{% for j in range(100) %}{% endfor %}{% endfor %}");
        var limits = new JinjaLimits { MaxRenderTime = TimeSpan.FromMilliseconds(50), MaxLoopIterations = long.MaxValue };
        var exception = Assert.Throws<ChatTemplateException>(() => template.Render(new Dictionary<string, object?>(), limits));
        Assert.Equal(ChatTemplateErrorKind.LimitExceeded, exception.Kind);
    }
}
