using System.Text;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// The BPE model of a Hugging Face tokenizer.json: turns one pre-tokenized word into ids the way the
/// Rust <c>tokenizers</c> crate does. The word starts as one symbol per character; a character missing
/// from the vocabulary becomes its UTF-8 bytes as <c>&lt;0xNN&gt;</c> tokens when byte fallback is on,
/// otherwise the unknown token. Then adjacent pairs are merged, always the pair with the lowest merge
/// rank first and the leftmost one among equals, until no listed merge applies.
/// </summary>
/// <remarks>
/// Why our own tokenizer (this class and the rest of Tokenization/ for tokenizer.json), and what holds it to
/// Hugging Face's:
/// <list type="bullet">
/// <item>Microsoft.ML.Tokenizers 2.0.1 (the registry also serves only 2.0.0): its BpeTokenizer reproduced 92 of the
/// 150 tokenizers.js vectors of the bundled stories260K model (code review 2026-12-01, section 5.1). It has no byte
/// fallback (emits &lt;unk&gt; instead of &lt;0xNN&gt;), normalizes the whole text before isolating added tokens (so
/// "&lt;/s&gt;" in text gets a "▁" before it) and has no <c>ignore_merges</c> (Llama 3's " tokenizer" case).</item>
/// <item>Tokenizers.DotNet 1.4.1, a wrapper of Hugging Face's Rust <c>tokenizers</c>: matches (all 302 reference
/// vectors of both fixtures), but is a native library with only a linux-x64 build served here, has Encode/Decode only
/// (no offsets, no streaming decode) and no switch to leave special tokens in user text unparsed.</item>
/// </list>
/// Decision: keep ours, which is portable and does what prompts need; the test project uses Tokenizers.DotNet as the
/// reference in a differential test (HuggingFaceDifferentialTests: every fixture tokenizer.json and edited variants,
/// thousands of texts, identical ids and decoded text required).
/// </remarks>
internal sealed class BpeModel
{
    private readonly Dictionary<string, int> _vocab;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _vocabBySpan;
    private readonly Dictionary<(int Left, int Right), (int Rank, int Merged)> _merges;
    private readonly int[]? _byteFallbackIds;
    private readonly int? _unknownId;
    private readonly bool _fuseUnknown;
    private readonly bool _ignoreMerges;

    /// <param name="vocab">Token string to id.</param>
    /// <param name="merges">Merge rules in rank order (first = applied first).</param>
    /// <param name="unknownToken">The token for characters that cannot be encoded, or null.</param>
    /// <param name="fuseUnknown">Whether consecutive unknown characters become one unknown token.</param>
    /// <param name="byteFallback">Whether unknown characters become <c>&lt;0xNN&gt;</c> byte tokens.</param>
    /// <param name="ignoreMerges">Whether a word found whole in the vocabulary skips the merges (Llama 3).</param>
    public BpeModel(
        Dictionary<string, int> vocab,
        IReadOnlyList<(string Left, string Right)> merges,
        string? unknownToken,
        bool fuseUnknown,
        bool byteFallback,
        bool ignoreMerges)
    {
        _vocab = new Dictionary<string, int>(vocab, StringComparer.Ordinal);
        _vocabBySpan = _vocab.GetAlternateLookup<ReadOnlySpan<char>>();
        _fuseUnknown = fuseUnknown;
        _ignoreMerges = ignoreMerges;

        if (unknownToken is not null)
        {
            _unknownId = _vocab.TryGetValue(unknownToken, out var unk)
                ? unk
                : throw new ModelFormatException($"the unknown token '{unknownToken}' is not in the vocabulary");
        }

        _merges = new Dictionary<(int, int), (int, int)>(merges.Count);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!_vocab.TryGetValue(left, out var leftId)
                || !_vocab.TryGetValue(right, out var rightId)
                || !_vocab.TryGetValue(left + right, out var mergedId))
            {
                throw new ModelFormatException($"merge {rank} ('{left}' '{right}') uses a token that is not in the vocabulary");
            }

            // A repeated pair takes its last rank: the Rust implementation collects the list into a map.
            _merges[(leftId, rightId)] = (rank, mergedId);
        }

        if (byteFallback)
        {
            _byteFallbackIds = new int[256];
            for (var b = 0; b < 256; b++)
            {
                // Hugging Face names byte tokens "<0x0A>": upper-case hex, two digits.
                _byteFallbackIds[b] = _vocab.TryGetValue($"<0x{b:X2}>", out var id) ? id : -1;
            }
        }
    }

    public bool TryGetId(string token, out int id) => _vocab.TryGetValue(token, out id);

    /// <summary>Appends the ids of one word (already normalized and pre-tokenized) to <paramref name="output"/>.</summary>
    public void EncodeWord(string word, List<int> output)
    {
        if (word.Length == 0)
        {
            return;
        }

        if (_ignoreMerges && _vocab.TryGetValue(word, out var whole))
        {
            output.Add(whole);
            return;
        }

        var symbols = InitialSymbols(word);
        Merge(symbols);
        foreach (var id in symbols)
        {
            if (id >= 0)
            {
                output.Add(id);
            }
        }
    }

    /// <summary>One symbol per character (code point), with byte fallback and unknown handling.</summary>
    private List<int> InitialSymbols(string word)
    {
        var symbols = new List<int>(word.Length);
        var pendingUnknown = false;
        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < word.Length;)
        {
            var length = char.IsHighSurrogate(word[i]) && i + 1 < word.Length ? 2 : 1;
            var character = word.AsSpan(i, length);
            i += length;

            if (_vocabBySpan.TryGetValue(character, out var id))
            {
                FlushUnknown(symbols, ref pendingUnknown);
                symbols.Add(id);
                continue;
            }

            if (_byteFallbackIds is not null)
            {
                var byteCount = Encoding.UTF8.GetBytes(character, utf8);
                var allPresent = true;
                for (var k = 0; k < byteCount; k++)
                {
                    allPresent &= _byteFallbackIds[utf8[k]] >= 0;
                }

                if (allPresent)
                {
                    FlushUnknown(symbols, ref pendingUnknown);
                    for (var k = 0; k < byteCount; k++)
                    {
                        symbols.Add(_byteFallbackIds[utf8[k]]);
                    }

                    continue;
                }
            }

            if (_unknownId is null)
            {
                throw new InvalidRequestException(
                    $"the character U+{char.ConvertToUtf32(word, i - length):X4} cannot be encoded: it is not in the vocabulary and the tokenizer has no unknown token");
            }

            if (pendingUnknown && !_fuseUnknown)
            {
                symbols.Add(_unknownId.Value);
            }

            pendingUnknown = true;
        }

        FlushUnknown(symbols, ref pendingUnknown);
        return symbols;
    }

    private void FlushUnknown(List<int> symbols, ref bool pendingUnknown)
    {
        if (pendingUnknown)
        {
            symbols.Add(_unknownId!.Value);
            pendingUnknown = false;
        }
    }

    /// <summary>
    /// Applies merges in place: lowest rank first, leftmost first among equal ranks. Merged-away
    /// symbols are set to -1. A linked list over positions plus a priority queue keeps this
    /// O(n log n); queue entries that no longer match their pair are skipped when popped.
    /// </summary>
    private void Merge(List<int> symbols)
    {
        var count = symbols.Count;
        if (count < 2 || _merges.Count == 0)
        {
            return;
        }

        var next = new int[count];
        var previous = new int[count];
        for (var i = 0; i < count; i++)
        {
            next[i] = i + 1 < count ? i + 1 : -1;
            previous[i] = i - 1;
        }

        var queue = new PriorityQueue<(int Position, int Merged), (int Rank, int Position)>();
        for (var i = 0; i + 1 < count; i++)
        {
            Enqueue(queue, symbols, i, i + 1);
        }

        while (queue.TryDequeue(out var candidate, out var priority))
        {
            var left = candidate.Position;
            var right = next[left];
            if (symbols[left] < 0 || right < 0
                || !_merges.TryGetValue((symbols[left], symbols[right]), out var merge)
                || merge.Rank != priority.Rank || merge.Merged != candidate.Merged)
            {
                continue; // stale: one side was merged into something else since this entry was queued
            }

            symbols[left] = merge.Merged;
            symbols[right] = -1;
            next[left] = next[right];
            if (next[right] >= 0)
            {
                previous[next[right]] = left;
            }

            if (previous[left] >= 0)
            {
                Enqueue(queue, symbols, previous[left], left);
            }

            if (next[left] >= 0)
            {
                Enqueue(queue, symbols, left, next[left]);
            }
        }
    }

    private void Enqueue(
        PriorityQueue<(int Position, int Merged), (int Rank, int Position)> queue, List<int> symbols, int left, int right)
    {
        if (_merges.TryGetValue((symbols[left], symbols[right]), out var merge))
        {
            queue.Enqueue((left, merge.Merged), (merge.Rank, left));
        }
    }
}
