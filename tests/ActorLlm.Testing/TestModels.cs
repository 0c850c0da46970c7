using System.Text.Json.Nodes;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Config;
using Xunit;

namespace ActorLlm.Testing;

/// <summary>The models tests run on, and stores built from the bundled stories260K checkpoint.</summary>
public static class TestModels
{
    public static string Stories260K => RepoPaths.Stories260K;

    /// <summary>Every checkpoint the stores and loaders are tested with: the conformance fixtures and stories260K.</summary>
    public static TheoryData<string> All =>
        ["hf-llama-tiny", "llama3-tied", "qwen2-bias", "mistral-window", "llama-linear-bf16-sharded", "llama-bias-f16", "stories260K"];

    /// <summary>The directory of one of <see cref="All"/>.</summary>
    public static string PathOf(string name) =>
        name == "stories260K" ? RepoPaths.Stories260K : Path.Combine(RepoPaths.FixturesDir, name);

    /// <summary>stories260K converted into a full unit store at <paramref name="dir"/>.</summary>
    public static UnitStore ConvertStories(string dir)
    {
        UnitStoreWriter.Convert(Stories260K, dir);
        return UnitStore.Open(dir);
    }

    /// <summary>A store of the same model as <paramref name="source"/> holding no units, created the way a node without a model creates one.</summary>
    public static UnitStore EmptyCopy(UnitStore source, string dir) =>
        UnitStore.CreateEmpty(dir, source.Manifest, source.Manifest.Files.ToDictionary(f => f.Name, f => File.ReadAllBytes(Path.Combine(source.Directory, f.Name))));

    /// <summary>
    /// A Hugging Face directory of a made-up one-layer model with stories260K's shape but a vocabulary of 20480, so
    /// its begin and end units (the 20480 x 64 float32 embedding) are each a little over 5 MiB: more than one
    /// maximal 4 MiB chunk. Random weights: nobody computes with them, and random bytes expose any misplaced chunk.
    /// </summary>
    public static string WriteLargeVocabModel(string dir)
    {
        Directory.CreateDirectory(dir);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(Stories260K, "config.json")))!.AsObject();
        json["vocab_size"] = 20480;
        json["num_hidden_layers"] = 1;
        File.WriteAllText(Path.Combine(dir, "config.json"), json.ToJsonString());
        File.Copy(Path.Combine(Stories260K, "tokenizer.json"), Path.Combine(dir, "tokenizer.json"));

        // Read back, as a checkpoint's config is: the parser takes JSON text, not values set from C#.
        var config = ModelConfig.Parse(JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "config.json")))!.AsObject());
        var random = new Random(260);
        var tensors = new List<PendingTensor>();
        for (int unit = 0; unit < config.UnitCount; unit++)
        {
            foreach (string name in UnitTensors.Required(config, unit, _ => false).Distinct().Where(n => tensors.All(t => t.Name != n)))
            {
                long[] shape = UnitTensors.ExpectedShape(config, name)!;
                var bytes = new byte[shape.Aggregate(4L, (a, b) => a * b)];
                random.NextBytes(bytes);
                tensors.Add(PendingTensor.FromBytes(name, SafetensorsDType.F32, shape, bytes));
            }
        }

        SafetensorsWriter.WriteFile(Path.Combine(dir, HfCheckpoint.SingleFile), tensors);
        return dir;
    }

    /// <summary>The Llama-3-style byte-level tokenizer fixture (Split + ByteLevel, 294 ids and 7 added tokens).</summary>
    public static string ByteLevelTokenizerDir => Path.Combine(RepoPaths.FixturesDir, "tokenizers", "llama3-style-byte-level");

    /// <summary>
    /// A Hugging Face directory of stories260K's weights with a Llama-3-style byte-level tokenizer.json of at least
    /// <paramref name="minTokenizerBytes"/> bytes (Llama 3's is 9.4 MB): the byte-level fixture's tokenizer, its
    /// vocabulary padded with added tokens <c>&lt;|pad_N|&gt;</c> from id 301 on (so every id the model emits,
    /// 0..511, decodes), which no ordinary text contains, so the fixture's own ids encode as before. Also its
    /// tokenizer_config.json, and a generation_config.json with its end-of-turn ids, do_sample false (greedy) and
    /// max_new_tokens 12.
    /// </summary>
    public static string WriteLargeTokenizerModel(string dir, long minTokenizerBytes = 13L << 19)
    {
        Directory.CreateDirectory(dir);
        File.Copy(Path.Combine(Stories260K, "config.json"), Path.Combine(dir, "config.json"));
        File.Copy(Path.Combine(Stories260K, HfCheckpoint.SingleFile), Path.Combine(dir, HfCheckpoint.SingleFile));
        File.Copy(Path.Combine(ByteLevelTokenizerDir, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"));
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), """{"bos_token_id": 294, "eos_token_id": [295, 298], "do_sample": false, "max_new_tokens": 12}""");

        var tokenizer = JsonNode.Parse(File.ReadAllText(Path.Combine(ByteLevelTokenizerDir, "tokenizer.json")))!.AsObject();
        var added = tokenizer["added_tokens"]!.AsArray();
        int next = added.Max(t => t!["id"]!.GetValue<int>()) + 1;
        long size = File.ReadAllBytes(Path.Combine(ByteLevelTokenizerDir, "tokenizer.json")).Length;
        for (int i = 0; size < minTokenizerBytes; i++)
        {
            var entry = new JsonObject
            {
                ["id"] = next + i,
                ["content"] = $"<|pad_{i}|>",
                ["single_word"] = false,
                ["lstrip"] = false,
                ["rstrip"] = false,
                ["normalized"] = false,
                ["special"] = false,
            };
            size += entry.ToJsonString().Length + 2;
            added.Add(entry);
        }

        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tokenizer.ToJsonString());
        return dir;
    }

    /// <summary>
    /// Bit rot as the issue found it: overwrites 4 bytes in the middle of the tensor data of the safetensors file at
    /// <paramref name="path"/> with the float 1e30, in place (same size, the header intact, so only a checksum tells).
    /// Returns the offset written.
    /// </summary>
    public static long CorruptTensorData(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        Span<byte> prefix = stackalloc byte[8];
        file.ReadExactly(prefix);
        long dataStart = 8 + BitConverter.ToInt64(prefix);
        long offset = dataStart + ((file.Length - dataStart) / 2 / 4 * 4);
        file.Position = offset;
        file.Write(BitConverter.GetBytes(1e30f));
        return offset;
    }

    /// <summary>Hidden files (temporary and partial unit files) in a store directory: there should be none when no fetch is running.</summary>
    public static string[] HiddenFiles(string dir) =>
        Directory.EnumerateFileSystemEntries(dir).Where(p => Path.GetFileName(p).StartsWith('.')).ToArray();
}
