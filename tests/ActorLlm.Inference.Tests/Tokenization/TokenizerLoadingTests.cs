using ActorLlm.Inference.Tokenization;
using Xunit;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>Which files Load reads, what it takes from each, and how it reports what it cannot use.</summary>
public class TokenizerLoadingTests
{
    private static readonly string s_stories260K = Path.Combine(RepoPaths.ModelsDir, "stories260K");

    [Fact]
    public void A_missing_directory_is_a_model_format_error()
    {
        var missing = Path.Combine(Path.GetTempPath(), "actorllm-no-such-model-" + Guid.NewGuid().ToString("N"));
        var error = Assert.Throws<ModelFormatException>(() => TextTokenizer.Load(missing));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_without_tokenizer_files_says_what_was_looked_for()
    {
        using var model = new TempModelDirectory();
        model.Write("config.json", """{ "eos_token_id": 2 }""");

        var error = Assert.Throws<ModelFormatException>(() => TextTokenizer.Load(model.Path));
        Assert.Contains(model.Path, error.Message, StringComparison.Ordinal);
        Assert.Contains("tokenizer.json", error.Message, StringComparison.Ordinal);
        Assert.Contains("tokenizer.model", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{ "model": { "type": "WordPiece", "vocab": {} } }""", "WordPiece")]
    [InlineData("""{ "model": { "type": "Unigram", "vocab": [] } }""", "Unigram")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [] }, "pre_tokenizer": { "type": "Whitespace" } }""", "Whitespace")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [] }, "decoder": { "type": "WordPiece" } }""", "WordPiece")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": ["a b"] } }""", "merge 0")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": """, "tokenizer.json")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": -1 }, "merges": [] } }""", "tokenizer.json")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": "zero" }, "merges": [] } }""", "tokenizer.json")]
    [InlineData("""{ "model": { "type": "BPE", "vocab": { "a": 0 }, "merges": [] }, "post_processor": { "type": "RobertaProcessing", "cls": [] } }""", "tokenizer.json")]
    public void Unsupported_or_malformed_tokenizer_json_names_the_problem(string json, string expectedInMessage)
    {
        using var model = new TempModelDirectory();
        model.Write("tokenizer.json", json);

        var error = Assert.Throws<ModelFormatException>(() => TextTokenizer.Load(model.Path));
        Assert.Contains(expectedInMessage, error.Message, StringComparison.Ordinal);
        Assert.Contains(model.Path, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_corrupt_tokenizer_model_is_a_model_format_error()
    {
        using var model = new TempModelDirectory();
        model.Write("tokenizer.model", "this is not a protobuf");

        var error = Assert.Throws<ModelFormatException>(() => TextTokenizer.Load(model.Path));
        Assert.Contains("tokenizer.model", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tokenizer_json_is_preferred_over_tokenizer_model()
    {
        using var model = new TempModelDirectory();
        model.CopyFrom(s_stories260K, "tokenizer.json");
        model.Write("tokenizer.model", "never read");

        Assert.Equal(512, TextTokenizer.Load(model.Path).VocabSize);
    }

    [Fact]
    public void Eos_ids_are_the_union_of_all_config_files_with_lists_allowed()
    {
        using var model = new TempModelDirectory();
        model.CopyFrom(s_stories260K, "tokenizer.json");
        model.Write("generation_config.json", """{ "bos_token_id": 1, "eos_token_id": [2, 5] }""");
        model.Write("config.json", """{ "eos_token_id": [7] }""");
        model.Write("special_tokens_map.json", """{ "eos_token": "<unk>" }""");

        var tokenizer = TextTokenizer.Load(model.Path);

        Assert.Equal(new HashSet<int> { 0, 2, 5, 7 }, tokenizer.EosIds);
        Assert.Equal(1, tokenizer.BosId);
        Assert.True(tokenizer.AddBos); // from tokenizer.json's template
    }

    [Fact]
    public void Add_bos_and_eos_flags_in_tokenizer_config_override_the_template()
    {
        using var model = new TempModelDirectory();
        model.CopyFrom(s_stories260K, "tokenizer.json");
        model.Write("tokenizer_config.json", """
            {
              "add_bos_token": false,
              "add_eos_token": true,
              "bos_token": { "__type": "AddedToken", "content": "<s>", "lstrip": false },
              "eos_token": "</s>"
            }
            """);

        var tokenizer = TextTokenizer.Load(model.Path);

        Assert.False(tokenizer.AddBos);
        Assert.Equal(1, tokenizer.BosId);
        Assert.Equal([2], tokenizer.Encode(string.Empty));
        Assert.Equal(2, tokenizer.Encode("Once")[^1]);
        Assert.NotEqual(1, tokenizer.Encode("Once")[0]);
    }

    [Fact]
    public void A_special_token_missing_from_the_vocabulary_is_a_model_format_error()
    {
        using var model = new TempModelDirectory();
        model.CopyFrom(s_stories260K, "tokenizer.json");
        model.Write("tokenizer_config.json", """{ "eos_token": "<|im_end|>" }""");

        var error = Assert.Throws<ModelFormatException>(() => TextTokenizer.Load(model.Path));
        Assert.Contains("<|im_end|>", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_malformed_side_file_is_named()
    {
        using var model = new TempModelDirectory();
        model.CopyFrom(s_stories260K, "tokenizer.json");
        model.Write("generation_config.json", """{ "eos_token_id": "two" }""");

        var error = Assert.Throws<ModelFormatException>(() => TextTokenizer.Load(model.Path));
        Assert.Contains("generation_config.json", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A scratch model directory under the temp folder, deleted on dispose.</summary>
    private sealed class TempModelDirectory : IDisposable
    {
        public TempModelDirectory()
        {
            Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "actorllm-tokenizer-test-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(Path);
        }

        public string Path { get; }

        public void Write(string fileName, string content) => File.WriteAllText(System.IO.Path.Combine(Path, fileName), content);

        public void CopyFrom(string directory, string fileName) =>
            File.Copy(System.IO.Path.Combine(directory, fileName), System.IO.Path.Combine(Path, fileName));

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
