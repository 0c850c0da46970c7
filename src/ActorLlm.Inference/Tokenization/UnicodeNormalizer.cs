using System.Globalization;
using System.Text;

namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// The Unicode normal forms (NFC, NFD, NFKC, NFKD, UAX #15) for tokenizer normalizers, from tables the project
/// carries (UnicodeNormalization.txt, written by scripts/make_unicode_normalization_data.py). The build runs with
/// invariant globalization, under which <see cref="string.Normalize(NormalizationForm)"/> returns its input unchanged,
/// so Qwen2's NFC normalizer would otherwise be skipped and decomposed input ("e" + U+0301) would not get Hugging
/// Face's ids.
/// </summary>
internal static class UnicodeNormalizer
{
    private const int HangulBase = 0xAC00, HangulCount = 11172, LeadBase = 0x1100, VowelBase = 0x1161, TrailBase = 0x11A7;
    private const int VowelCount = 21, TrailCount = 28, LeadVowelCount = VowelCount * TrailCount;

    private static readonly Lazy<Tables> s_tables = new(Tables.Load);

    /// <summary>The text in the given normal form (input is well-formed UTF-16: no lone surrogates).</summary>
    public static string Normalize(string text, NormalizationForm form)
    {
        var compose = form is NormalizationForm.FormC or NormalizationForm.FormKC;
        var compatibility = form is NormalizationForm.FormKC or NormalizationForm.FormKD;

        // Below U+0300 nothing combines, so such text is already in NFC; ASCII is in every form.
        var limit = compose && !compatibility ? '\u0300' : '\u0080';
        if (!text.AsSpan().ContainsAnyExceptInRange('\0', (char)(limit - 1)))
        {
            return text;
        }

        var tables = s_tables.Value;
        var codePoints = Decompose(text, compatibility, tables);
        SortMarks(codePoints, tables);
        if (compose)
        {
            Compose(codePoints, tables);
        }

        var builder = new StringBuilder(text.Length);
        foreach (var codePoint in codePoints)
        {
            builder.Append(char.ConvertFromUtf32(codePoint));
        }

        return builder.ToString();
    }

    private static List<int> Decompose(string text, bool compatibility, Tables tables)
    {
        var result = new List<int>(text.Length + 8);
        for (var i = 0; i < text.Length; i++)
        {
            var codePoint = char.IsSurrogatePair(text, i) ? char.ConvertToUtf32(text[i], text[++i]) : text[i];
            if (codePoint - HangulBase is >= 0 and < HangulCount)
            {
                var index = codePoint - HangulBase;
                result.Add(LeadBase + index / LeadVowelCount);
                result.Add(VowelBase + index % LeadVowelCount / TrailCount);
                if (index % TrailCount != 0)
                {
                    result.Add(TrailBase + index % TrailCount);
                }
            }
            else if ((compatibility && tables.Compatibility.TryGetValue(codePoint, out var mapping))
                || tables.Canonical.TryGetValue(codePoint, out mapping))
            {
                result.AddRange(mapping);
            }
            else
            {
                result.Add(codePoint);
            }
        }

        return result;
    }

    /// <summary>Canonical ordering: each run of marks (non-zero combining class) sorted stably by class.</summary>
    private static void SortMarks(List<int> codePoints, Tables tables)
    {
        for (var i = 1; i < codePoints.Count; i++)
        {
            var mark = codePoints[i];
            var markClass = tables.CombiningClass(mark);
            if (markClass == 0)
            {
                continue;
            }

            var j = i;
            while (j > 0 && tables.CombiningClass(codePoints[j - 1]) > markClass)
            {
                codePoints[j] = codePoints[j - 1];
                j--;
            }

            codePoints[j] = mark;
        }
    }

    /// <summary>Canonical composition: each character joins the last starter unless blocked by a mark of the same or higher class.</summary>
    private static void Compose(List<int> codePoints, Tables tables)
    {
        if (codePoints.Count == 0)
        {
            return;
        }

        var starterIndex = 0;
        var lastClass = tables.CombiningClass(codePoints[0]);
        if (lastClass != 0)
        {
            lastClass = 256; // no starter yet: nothing composes with it
        }

        var written = 1;
        for (var i = 1; i < codePoints.Count; i++)
        {
            var codePoint = codePoints[i];
            var codePointClass = tables.CombiningClass(codePoint);
            if ((lastClass < codePointClass || lastClass == 0) && ComposePair(codePoints[starterIndex], codePoint, tables) is { } composite)
            {
                codePoints[starterIndex] = composite;
                continue;
            }

            if (codePointClass == 0)
            {
                starterIndex = written;
            }

            lastClass = codePointClass;
            codePoints[written++] = codePoint;
        }

        codePoints.RemoveRange(written, codePoints.Count - written);
    }

    private static int? ComposePair(int first, int second, Tables tables)
    {
        if (first - LeadBase is >= 0 and < 19 && second - VowelBase is >= 0 and < VowelCount)
        {
            return HangulBase + ((first - LeadBase) * VowelCount + second - VowelBase) * TrailCount;
        }

        if (first - HangulBase is >= 0 and < HangulCount && (first - HangulBase) % TrailCount == 0
            && second - TrailBase is > 0 and < TrailCount)
        {
            return first + second - TrailBase;
        }

        return tables.Compositions.TryGetValue(((long)first << 21) | (uint)second, out var composite) ? composite : null;
    }

    private sealed class Tables
    {
        private readonly Dictionary<int, byte> _combiningClass = [];

        public Dictionary<int, int[]> Canonical { get; } = [];

        public Dictionary<int, int[]> Compatibility { get; } = [];

        public Dictionary<long, int> Compositions { get; } = [];

        public int CombiningClass(int codePoint) => codePoint < 0x300 ? 0 : _combiningClass.GetValueOrDefault(codePoint);

        public static Tables Load()
        {
            using var stream = typeof(UnicodeNormalizer).Assembly.GetManifestResourceStream("ActorLlm.Inference.Tokenization.UnicodeNormalization.txt")
                ?? throw new InvalidOperationException("the Unicode normalization tables are missing from the assembly");
            using var reader = new StreamReader(stream, Encoding.ASCII);
            var tables = new Tables();
            for (var line = reader.ReadLine(); line is not null; line = reader.ReadLine())
            {
                if (line.StartsWith('#') || line.Length == 0)
                {
                    continue;
                }

                var space = line.IndexOf(' ', StringComparison.Ordinal);
                var name = line[..space];
                foreach (var entry in line[(space + 1)..].Split(';'))
                {
                    var (key, value) = (entry[..entry.IndexOf('=', StringComparison.Ordinal)], entry[(entry.IndexOf('=', StringComparison.Ordinal) + 1)..]);
                    switch (name)
                    {
                        case "ccc":
                            var dash = key.IndexOf('-', StringComparison.Ordinal);
                            var (first, last) = dash < 0 ? (Hex(key), Hex(key)) : (Hex(key[..dash]), Hex(key[(dash + 1)..]));
                            for (var codePoint = first; codePoint <= last; codePoint++)
                            {
                                tables._combiningClass[codePoint] = byte.Parse(value, CultureInfo.InvariantCulture);
                            }

                            break;
                        case "nfd":
                            tables.Canonical[Hex(key)] = [.. value.Split(' ').Select(Hex)];
                            break;
                        case "nfkd":
                            tables.Compatibility[Hex(key)] = [.. value.Split(' ').Select(Hex)];
                            break;
                        case "compose":
                            var pair = key.Split(' ');
                            tables.Compositions[((long)Hex(pair[0]) << 21) | (uint)Hex(pair[1])] = Hex(value);
                            break;
                        default:
                            throw new InvalidOperationException($"unknown table '{name}' in the Unicode normalization data");
                    }
                }
            }

            return tables;
        }

        private static int Hex(string text) => int.Parse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
    }
}
