using System.Text;

namespace ActorLlm.Inference.Tests.Tokenization;

/// <summary>
/// The texts the differential tokenizer tests encode with both implementations: hand-picked cases for every
/// corner a tokenizer has (whitespace of every kind, scripts, emoji sequences, code, digits, strings that are or
/// look like special tokens, long words), then concatenations of those fragments and random Unicode strings from a
/// seeded generator. Deterministic: the same seed gives the same texts on every run and machine. No text holds a
/// lone surrogate (every generated character is a Unicode scalar value).
/// </summary>
public static class DifferentialCorpus
{
    /// <summary>Strings that are special tokens of one fixture or another, or only look like one.</summary>
    public static IReadOnlyList<string> SpecialLooking { get; } =
    [
        "<s>", "</s>", "<unk>", "<|eot_id|>", "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
        "<|end_header_id|>", "<|reserved_special_token_0|>", "<tool_call>", "</tool_call>",
        "</s", "<s", "/s>", "s>", "<unk", "<|eot_id", "|eot_id|>", "<|eot", "<|", "|>", "<||>", "<|begin_of_text",
        "<0x41>", "<0x0A>", "<0xZZ>", "<0x>", "<0x4>", "▁", "▁▁", "Ġ", "Ċ", "ĠĠ", "<S>", "</S>", "<|EOT_ID|>",
    ];

    /// <summary>Building blocks: words, scripts, emoji, whitespace, digits, punctuation, code, special-looking strings.</summary>
    public static IReadOnlyList<string> Fragments { get; } =
    [
        // English, contractions (the byte-level regex matches them case-insensitively)
        "Once", "upon", "a", "time", "there", "was", "the", "The", "THE", "dog", "tokenizer", " tokenizer", "Hello",
        "world", "string", "don't", "I'm", "we'll", "they're", "you've", "he'd", "it's", "DON'T", "IT'S", "'s", "'S",
        "'ll", "o'clock", "rock'n'roll",
        // Latin with accents, precomposed and combining
        "café", "naïve", "façade", "über", "Ångström", "e\u0301", "a\u0308\u0304", "n\u0303", "ﬁ", "ß", "ǅ", "İ",
        "Ω", "ǂ",
        // other scripts
        "日本語", "你好", "世界", "한국어", "テキスト", "ｶﾀｶﾅ", "Привет", "мир", "Ελληνικά", "مرحبا", "العربية",
        "שלום", "עברית", "नमस्ते", "ไทย", "ქართული", "Հայերեն", "𠀋", "𝐀𝐁𝐂", "𝔘𝔫𝔦", "\u200F", "\u200E",
        // emoji: plain, skin tones, ZWJ families, flags, keycaps, variation selectors
        "🙂", "👍", "👍🏽", "👩🏿‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "1️⃣", "#️⃣", "❤️", "❤", "☺️",
        "🤖", "🦀", "🙂abc", "abc🙂",
        // whitespace of every kind
        " ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r", "\r\r\n", "\n\r", "\v", "\f",
        "\u00A0", "\u2028", "\u2029", "\u3000", "\u0085", "\u2009", "\u200B", "\uFEFF", " \n", "\n ", " \t\n ",
        // digits
        "0", "7", "42", "123", "1234", "12345", "1234567", "3.14159", "1,000,000", "2026-12-01", "0x1F", "١٢٣",
        "٣٤٥", "①", "Ⅻ", "½", "²",
        // punctuation and symbols
        ".", ",", "!", "?", "...", "…", "—", "–", "-", "«", "»", "“", "”", "‘", "’", "(", ")", "[", "]", "{", "}",
        "<", ">", "</", "/>", "&&", "||", "==", "=>", "!=", "#", "@", "$", "%", "^", "&", "*", "_", "__init__",
        "\\", "`", "```", "~", "'", "\"", ";", ":", "€", "©", "°",
        // code
        "def f(x):", "    return x + 1", "\tif (a) {", "\t\treturn b;", "}", "int main() { return 0; }",
        "<div class=\"a\">", "x=>x*2", "a_b_c", "camelCaseWord", "snake_case_word", "https://example.com/a?b=c",
        "C:\\path\\file.txt", "{\"key\": [1, 2]}",
        .. SpecialLooking,
    ];

    /// <summary>Hand-picked whole inputs.</summary>
    public static IReadOnlyList<string> HandPicked { get; } =
    [
        string.Empty,
        "Once upon a time, there was a little dog named Tim.",
        "Hello world",
        "  two leading spaces",
        "trailing spaces   ",
        "multiple   spaces   inside",
        " ",
        "  ",
        "\n",
        "\r\n",
        "\t",
        "line one\nline two\n\nafter a blank line\r\nwindows line\rold mac line",
        "\n\n\nthree newlines first",
        "ends with newlines\n\n",
        "spaces then newline   \n   next",
        "tabs\tbetween\t\twords\t",
        "def f(x):\n    if x:\n        return {\"a\": [1, 2, 3]}\n    return None\n",
        "int main(void)\r\n{\r\n\tprintf(\"hi\\n\");\r\n\treturn 0;\r\n}\r\n",
        "Héllo wörld, café naïve façade",
        "e\u0301 vs é, a\u0308 vs ä, \u0301 alone, a\u0301\u0302\u0303\u0304 stacked",
        "日本語のテキスト 你好世界 한국어",
        "مرحبا بالعالم",
        "שלום עולם",
        "mixed عربي and English and עברית",
        "emoji 🙂 thumbs 👍🏽 robot🤖 flag 🇫🇷 family 👨‍👩‍👧‍👦 rainbow 🏳️‍🌈 coder 👩🏿‍💻",
        "👨‍👩‍👧‍👦👨‍👩‍👧‍👦",
        "math letters 𝐀𝐁𝐂 and 🙂abc",
        "digits 1234567890 and 3.14159 and 1,000,000",
        "0123456789012345678901234567890123456789",
        "Hello, world! How are you? I'm fine... (really) [yes] {no} <maybe>",
        "a </s> b",
        "a</s>b",
        "</s>",
        "<s>",
        "<s></s>",
        "</s></s></s>",
        " </s> ",
        "</s>\n",
        "<unk>",
        "<unk><unk>",
        "x<unk>y",
        "</s",
        "<s",
        "</s >",
        "< /s>",
        "<|eot_id|>",
        "<|begin_of_text|>",
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
        "a <|eot_id|> b",
        "<|eot_id|><|eot_id|>",
        "<|eot_id",
        "<|eot_id|",
        "|eot_id|>",
        "<tool_call>x</tool_call>",
        "<0x41>",
        "<0x41><0x42>",
        "▁hello▁world",
        "Ġhello",
        "\u00A0non-breaking\u00A0space",
        "ideographic\u3000space",
        "line\u2028separator\u2029paragraph",
        "next\u0085line",
        "zero\u200Bwidth\uFEFFjoiner\u200Dnon\u200Cjoiner",
        "\v\f vertical tab and form feed",
        "\0 nul and \u0001 control \u007F del",
        "\uFFFD replacement char",
        "\uE000 private use \U000F0000",
        "\uFFFE\uFFFF noncharacters",
        new string('a', 300),
        string.Concat(Enumerable.Repeat("supercalifragilisticexpialidocious", 12)),
        new string('1', 500),
        new string(' ', 200),
        new string('\n', 60),
        string.Concat(Enumerable.Repeat("\r\n", 40)),
        string.Concat(Enumerable.Repeat("🙂", 100)),
        string.Concat(Enumerable.Repeat("日本", 100)),
        string.Concat(Enumerable.Repeat("</s>", 50)),
        string.Concat(Enumerable.Repeat("ab ", 300)),
    ];

    /// <summary>Hand-picked cases, <paramref name="concatenations"/> fragment concatenations and <paramref name="randomStrings"/> random Unicode strings.</summary>
    public static List<string> Build(int seed, int concatenations, int randomStrings)
    {
        var random = new Random(seed);
        var texts = new List<string>(HandPicked);
        texts.AddRange(SpecialLooking);
        texts.AddRange(SpecialLooking.Select(s => "a" + s + "b"));
        texts.AddRange(SpecialLooking.Select(s => " " + s + " "));
        for (var i = 0; i < concatenations; i++)
        {
            texts.Add(Concatenation(random));
        }

        for (var i = 0; i < randomStrings; i++)
        {
            texts.Add(RandomUnicode(random));
        }

        return texts;
    }

    private static string Concatenation(Random random)
    {
        var builder = new StringBuilder();
        var count = random.Next(1, 13);
        for (var i = 0; i < count; i++)
        {
            builder.Append(Fragments[random.Next(Fragments.Count)]);
            switch (random.Next(6))
            {
                case 0:
                case 1:
                    builder.Append(' ');
                    break;
                case 2:
                    builder.Append(random.Next(4) == 0 ? "\n" : "  ");
                    break;
                default:
                    break; // fragments glued together
            }
        }

        return builder.ToString();
    }

    // Code point ranges to draw from, with weights: every plane and kind of character a prompt may hold.
    private static readonly (int Weight, int First, int Last)[] s_ranges =
    [
        (30, 0x20, 0x7E),          // printable ASCII
        (4, 0x00, 0x1F),           // C0 controls, \t \n \r among them
        (3, 0x7F, 0x9F),           // DEL, C1 controls (U+0085 NEL)
        (8, 0xA0, 0x24F),          // Latin-1, Latin Extended
        (4, 0x300, 0x36F),         // combining marks
        (8, 0x370, 0x1FFF),        // Greek .. Latin Extended Additional: many scripts, Hebrew, Arabic, Indic, Thai
        (4, 0x2000, 0x2BFF),       // general punctuation, spaces, symbols, arrows
        (8, 0x3000, 0x9FFF),       // CJK punctuation, kana, CJK ideographs
        (3, 0xAC00, 0xD7A3),       // Hangul
        (3, 0xE000, 0xFFFF),       // private use, compatibility forms, specials, noncharacters
        (8, 0x1F300, 0x1FAFF),     // emoji
        (2, 0x1F3FB, 0x1F3FF),     // skin tone modifiers
        (2, 0x200C, 0x200D),       // ZWNJ, ZWJ
        (2, 0xFE00, 0xFE0F),       // variation selectors
        (3, 0x10000, 0x10FFFF),    // any supplementary code point (assigned or not)
        (2, 0x1D400, 0x1D7FF),     // mathematical alphanumerics (supplementary letters and digits)
    ];

    private static readonly string[] s_whitespace = [" ", " ", " ", "\t", "\n", "\r\n", "\r", "\u00A0", "\u3000", "\u2028", "\u0085", "\v", "\f"];

    private static string RandomUnicode(Random random)
    {
        var totalWeight = s_ranges.Sum(r => r.Weight);
        var builder = new StringBuilder();
        var length = random.Next(1, 25);
        for (var i = 0; i < length; i++)
        {
            if (random.Next(6) == 0)
            {
                builder.Append(s_whitespace[random.Next(s_whitespace.Length)]);
                continue;
            }

            var pick = random.Next(totalWeight);
            var range = s_ranges.First(r => (pick -= r.Weight) < 0);
            int codePoint;
            do
            {
                codePoint = random.Next(range.First, range.Last + 1);
            }
            while (codePoint is >= 0xD800 and <= 0xDFFF);

            builder.Append(char.ConvertFromUtf32(codePoint));
        }

        return builder.ToString();
    }
}
