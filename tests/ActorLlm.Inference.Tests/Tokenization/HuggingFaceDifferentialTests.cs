using System.Text;
using System.Text.Json.Nodes;
using ActorLlm.Inference.Tokenization;
using Xunit;
using Xunit.Abstractions;
using HfTokenizer = Tokenizers.DotNet.Tokenizer;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>
/// Differential test of our tokenizer against Hugging Face's own: the Rust <c>tokenizers</c> crate through
/// Tokenizers.DotNet (a native library, served here for linux-x64 only; elsewhere these tests are reported as
/// skipped, saying why). Every tokenizer.json under models/ and tests/fixtures/, and edited copies of them in the
/// other layouts Llama-family tokenizers come in (<see cref="Variants"/>), is encoded over a few thousand texts
/// (<see cref="DifferentialCorpus"/>) by both, and the ids must be identical; decoding is compared on the encoded
/// texts and on random id sequences.
/// </summary>
/// <remarks>
/// Tokenizers.DotNet's <c>Encode</c> applies the post-processor (BOS) and parses added tokens in the text; its
/// <c>Decode</c> skips special tokens. It has no switch for Hugging Face's <c>split_special_tokens</c>, which makes
/// the added vocabulary pass over special tokens (only non-special added tokens are still matched). The same
/// behaviour is had by loading a copy of the tokenizer.json whose special added tokens have contents that never
/// occur in text: their ids and the post-processor's stay as they are. That copy is the reference for
/// <c>parseSpecialTokens: false</c>.
/// </remarks>
public sealed class HuggingFaceDifferentialTests(HuggingFaceDifferentialTests.Variants variants, ITestOutputHelper output)
    : IClassFixture<HuggingFaceDifferentialTests.Variants>
{
    private const int Seed = 20261201;
    private const int MismatchesShown = 8;
    private const string VariantPrefix = "variant: ";

    private static readonly Lazy<List<string>> s_corpus = new(() => DifferentialCorpus.Build(Seed, concatenations: 2000, randomStrings: 1500));

    private readonly Variants _variants = variants;
    private readonly ITestOutputHelper _output = output;

    /// <summary>
    /// Every directory under models/ and tests/fixtures/ holding a tokenizer.json (relative to the repository root),
    /// then every variant by name.
    /// </summary>
    public static TheoryData<string> Fixtures()
    {
        var directories = new[] { RepoPaths.ModelsDir, RepoPaths.FixturesDir }
            .SelectMany(root => Directory.EnumerateFiles(root, HfJsonTokenizerCore.FileName, SearchOption.AllDirectories))
            .Select(file => Path.GetRelativePath(RepoPaths.Root, Path.GetDirectoryName(file)!).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToList();
        Assert.True(directories.Count >= 2, $"expected the stories260K and byte-level tokenizer.json fixtures, found [{string.Join(", ", directories)}]");
        return new TheoryData<string>([.. directories, .. Variants.Edits.Keys.Select(name => VariantPrefix + name)]);
    }

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public void Encode_matches_Hugging_Face(string fixture)
    {
        var directory = DirectoryOf(fixture);
        var ours = TextTokenizer.Load(directory);
        using var theirs = LoadReference(Path.Combine(directory, HfJsonTokenizerCore.FileName));

        CompareEncodings(fixture, ours, theirs, parseSpecialTokens: true);
    }

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public void Encode_without_special_token_parsing_matches_Hugging_Face_split_special_tokens(string fixture)
    {
        var directory = DirectoryOf(fixture);
        var ours = TextTokenizer.Load(directory);
        using var temp = new TempDir();
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(directory, HfJsonTokenizerCore.FileName)))!.AsObject();
        var added = json["added_tokens"]!.AsArray();
        foreach (var token in added.Where(t => t!["special"]!.GetValue<bool>()))
        {
            // Renamed in place rather than removed: Hugging Face numbers added tokens by their order when it loads
            // them, so removing one would renumber the others.
            token!["content"] = $"\U0010FFFD(special token {token["id"]} not matched)\U0010FFFD";
        }

        File.WriteAllText(temp[HfJsonTokenizerCore.FileName], json.ToJsonString());
        using var theirs = LoadReference(temp[HfJsonTokenizerCore.FileName]);
        foreach (var token in added.Where(t => !t!["special"]!.GetValue<bool>()))
        {
            Assert.Equal(token!["id"]!.GetValue<int>(), (int)theirs.Encode(token["content"]!.GetValue<string>())[^1]);
        }

        CompareEncodings(fixture, ours, theirs, parseSpecialTokens: false);
    }

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public void Decode_of_encoded_text_matches_Hugging_Face(string fixture)
    {
        var directory = DirectoryOf(fixture);
        var ours = TextTokenizer.Load(directory);
        using var theirs = LoadReference(Path.Combine(directory, HfJsonTokenizerCore.FileName));

        var mismatches = new List<string>();
        var count = 0;
        foreach (var text in s_corpus.Value)
        {
            var ids = theirs.Encode(text);
            var expected = theirs.Decode(ids);
            var actual = ours.Decode(ids.Select(id => (int)id));
            if (actual != expected && ++count <= MismatchesShown)
            {
                mismatches.Add($"text {Escape(text)}\n  ids      [{string.Join(',', ids)}]\n  HF       {Escape(expected)}\n  ours     {Escape(actual)}");
            }
        }

        Report(fixture, "decode of encoded text", count, mismatches);
    }

    [SkippableTheory]
    [MemberData(nameof(Fixtures))]
    public void Decode_of_random_ids_matches_Hugging_Face(string fixture)
    {
        var directory = DirectoryOf(fixture);
        var ours = TextTokenizer.Load(directory);
        using var theirs = LoadReference(Path.Combine(directory, HfJsonTokenizerCore.FileName));

        // Model output can be any ids: stray byte tokens, special tokens anywhere, bytes that are not UTF-8.
        var random = new Random(Seed);
        var mismatches = new List<string>();
        var count = 0;
        const int Sequences = 1500;
        for (var n = 0; n < Sequences; n++)
        {
            var ids = new int[random.Next(1, 16)];
            for (var i = 0; i < ids.Length; i++)
            {
                // Low ids are the byte tokens in both fixtures (<0xNN> = 3 + NN in stories260K, byte = id in the
                // byte-level one); draw them often so that multi-byte characters and broken sequences occur.
                ids[i] = random.Next(3) == 0 ? random.Next(Math.Min(259, ours.VocabSize)) : random.Next(ours.VocabSize);
            }

            var expected = theirs.Decode([.. ids.Select(id => (uint)id)]);
            var actual = ours.Decode(ids);
            var decoder = ours.CreateStreamingDecoder();
            var streamed = string.Concat(ids.Select(decoder.Push).ToList()) + decoder.Flush();
            if ((actual != expected || streamed != expected) && ++count <= MismatchesShown)
            {
                mismatches.Add($"ids [{string.Join(',', ids)}]\n  HF       {Escape(expected)}\n  ours     {Escape(actual)}\n  streamed {Escape(streamed)}");
            }
        }

        Report(fixture, $"decode of {Sequences} random id sequences", count, mismatches);
    }

    private string DirectoryOf(string fixture) =>
        fixture.StartsWith(VariantPrefix, StringComparison.Ordinal)
            ? _variants.Directory(fixture[VariantPrefix.Length..])
            : Path.Combine(RepoPaths.Root, fixture);

    private void CompareEncodings(string fixture, TextTokenizer ours, HfTokenizer theirs, bool parseSpecialTokens)
    {
        var corpus = s_corpus.Value;
        var mismatches = new List<string>();
        var count = 0;
        foreach (var text in corpus)
        {
            var expected = theirs.Encode(text).Select(id => (int)id).ToArray();
            var actual = ours.Encode(text, addSpecialTokens: true, parseSpecialTokens);
            if (!expected.AsSpan().SequenceEqual(actual) && ++count <= MismatchesShown)
            {
                var firstDifference = Enumerable.Range(0, Math.Min(expected.Length, actual.Length)).FirstOrDefault(i => expected[i] != actual[i], Math.Min(expected.Length, actual.Length));
                mismatches.Add(
                    $"text {Escape(text)}\n  first difference at index {firstDifference}\n  HF   [{string.Join(',', expected)}]\n  ours [{string.Join(',', actual)}]");
            }
        }

        Report(fixture, $"encode of {corpus.Count} texts (parseSpecialTokens: {parseSpecialTokens})", count, mismatches);
    }

    private void Report(string fixture, string what, int count, List<string> mismatches)
    {
        _output.WriteLine($"{fixture} {what}: {count} mismatches");
        Assert.True(count == 0, $"{fixture} {what}: {count} differ from Hugging Face; the first {mismatches.Count}:\n{string.Join("\n", mismatches)}");
    }

    /// <summary>
    /// Hugging Face's tokenizer for a tokenizer.json, or a skip saying why the native library cannot be used on this
    /// machine (Tokenizers.DotNet.runtime.linux-x64 is the only runtime package the registry serves).
    /// </summary>
    private HfTokenizer LoadReference(string tokenizerJson)
    {
        try
        {
            return new HfTokenizer(vocabPath: tokenizerJson);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException or EntryPointNotFoundException or TypeInitializationException)
        {
            var reason = $"Hugging Face tokenizers (Tokenizers.DotNet native library) cannot load on {System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier}: {e.GetType().Name}: {e.Message}";
            _output.WriteLine(reason);
            throw new SkipException(reason);
        }
    }

    /// <summary>The text as a JSON string with every non-ASCII character escaped, so invisible characters show.</summary>
    private static string Escape(string text)
    {
        var builder = new StringBuilder("\"");
        foreach (var c in text)
        {
            builder.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ when c < 0x20 || c > 0x7E => $"\\u{(int)c:X4}",
                _ => c.ToString(),
            });
        }

        return builder.Append('"').ToString();
    }

    /// <summary>
    /// Edited copies of the two fixtures in the other layouts Llama-family tokenizer.json files come in, each in a
    /// scratch directory with the fixture's side files, made on first use and deleted with the test class.
    /// </summary>
    public sealed class Variants : IDisposable
    {
        private static readonly string s_stories260K = Path.Combine(RepoPaths.ModelsDir, "stories260K");
        private static readonly string s_byteLevel = Path.Combine(RepoPaths.FixturesDir, "tokenizers", "llama3-style-byte-level");

        private readonly TempDir _temp = new();
        private readonly Dictionary<string, string> _made = [];

        public static IReadOnlyDictionary<string, (string Source, Action<JsonObject> Edit)> Edits { get; } =
            new Dictionary<string, (string, Action<JsonObject>)>
            {
                // Newer SentencePiece-style exports (legacy: false): a Metaspace pre-tokenizer instead of the normalizer.
                ["stories260K, Metaspace first"] = (s_stories260K, json => Metaspace(json, "first", split: false, decoder: false)),
                ["stories260K, Metaspace always, split"] = (s_stories260K, json => Metaspace(json, "always", split: true, decoder: false)),
                ["stories260K, Metaspace never, split"] = (s_stories260K, json => Metaspace(json, "never", split: true, decoder: false)),
                ["stories260K, Metaspace pre-tokenizer and decoder"] = (s_stories260K, json => Metaspace(json, "always", split: false, decoder: true)),
                ["stories260K, Metaspace first, decoder"] = (s_stories260K, json => Metaspace(json, "first", split: true, decoder: true)),
                // BPE without byte fallback: unknown characters become <unk>, fused or one each.
                ["stories260K, no byte fallback"] = (s_stories260K, json => NoByteFallback(json, fuseUnknown: true)),
                ["stories260K, no byte fallback, unk not fused"] = (s_stories260K, json => NoByteFallback(json, fuseUnknown: false)),
                // GPT-2's ByteLevel pre-tokenizer with its own regex, with and without the prefix space.
                ["byte-level, GPT-2 pre-tokenizer"] = (s_byteLevel, json => Gpt2(json, addPrefixSpace: false)),
                ["byte-level, GPT-2 pre-tokenizer, prefix space"] = (s_byteLevel, json => Gpt2(json, addPrefixSpace: true)),
                ["byte-level, merges not ignored"] = (s_byteLevel, json => json["model"]!["ignore_merges"] = false),
                // Qwen2 normalizes to NFC; the other normal forms go through the same tables.
                ["byte-level, NFC"] = (s_byteLevel, json => json["normalizer"] = new JsonObject { ["type"] = "NFC" }),
                ["byte-level, NFD"] = (s_byteLevel, json => json["normalizer"] = new JsonObject { ["type"] = "NFD" }),
                ["byte-level, NFKC"] = (s_byteLevel, json => json["normalizer"] = new JsonObject { ["type"] = "NFKC" }),
                ["byte-level, NFKD"] = (s_byteLevel, json => json["normalizer"] = new JsonObject { ["type"] = "NFKD" }),
                // Added-token options: lstrip/rstrip swallow whitespace around the token, single_word keeps it out of words.
                ["byte-level, added token lstrip"] = (s_byteLevel, json => EditAddedTokens(json, "lstrip")),
                ["byte-level, added token rstrip"] = (s_byteLevel, json => EditAddedTokens(json, "rstrip")),
                ["byte-level, added token single_word"] = (s_byteLevel, json => EditAddedTokens(json, "single_word")),
            };

        /// <summary>The scratch directory of a variant, made on first use.</summary>
        public string Directory(string name)
        {
            if (_made.TryGetValue(name, out var made))
            {
                return made;
            }

            var (source, edit) = Edits[name];
            var directory = _temp.Sub($"variant-{_made.Count}");
            foreach (var file in System.IO.Directory.GetFiles(source, "*.json"))
            {
                File.Copy(file, Path.Combine(directory, Path.GetFileName(file)));
            }

            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(source, HfJsonTokenizerCore.FileName)))!.AsObject();
            edit(json);
            File.WriteAllText(Path.Combine(directory, HfJsonTokenizerCore.FileName), json.ToJsonString());
            _made[name] = directory;
            return directory;
        }

        public void Dispose() => _temp.Dispose();

        private static void Metaspace(JsonObject json, string prependScheme, bool split, bool decoder)
        {
            json["normalizer"] = null;
            json["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Metaspace",
                ["replacement"] = "\u2581",
                ["prepend_scheme"] = prependScheme,
                ["split"] = split,
            };
            if (decoder)
            {
                json["decoder"] = new JsonObject
                {
                    ["type"] = "Metaspace",
                    ["replacement"] = "\u2581",
                    ["prepend_scheme"] = prependScheme,
                    ["split"] = split,
                };
            }
        }

        private static void Gpt2(JsonObject json, bool addPrefixSpace) => json["pre_tokenizer"] = new JsonObject
        {
            ["type"] = "ByteLevel",
            ["add_prefix_space"] = addPrefixSpace,
            ["trim_offsets"] = true,
            ["use_regex"] = true,
        };

        private static void NoByteFallback(JsonObject json, bool fuseUnknown)
        {
            json["model"]!["byte_fallback"] = false;
            json["model"]!["fuse_unk"] = fuseUnknown;
        }

        /// <summary>Sets one flag (lstrip, rstrip, single_word) on every added token, special or not.</summary>
        private static void EditAddedTokens(JsonObject json, string flag)
        {
            foreach (var token in json["added_tokens"]!.AsArray())
            {
                token![flag] = true;
            }
        }
    }
}
