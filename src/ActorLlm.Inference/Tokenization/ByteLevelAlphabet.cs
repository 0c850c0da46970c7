namespace ActorLlm.Inference.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-character table ("bytes_to_unicode"), used by byte-level BPE
/// (GPT-2, Llama 3, Qwen2). Every byte gets a printable character so that vocabulary entries are
/// plain strings: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 and up
/// in byte order (space 0x20 becomes 'Ġ' U+0120, newline 0x0A becomes 'Ċ' U+010A).
/// </summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] s_byteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> s_charToByte = BuildCharToByte(s_byteToChar);

    public static char CharOf(byte value) => s_byteToChar[value];

    /// <summary>Maps the UTF-8 bytes of <paramref name="text"/> to their byte-level characters.</summary>
    public static string Encode(string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        var chars = new char[bytes.Length];
        for (var i = 0; i < bytes.Length; i++)
        {
            chars[i] = s_byteToChar[bytes[i]];
        }

        return new string(chars);
    }

    /// <summary>
    /// The bytes a byte-level token stands for, or null when the token holds a character outside the
    /// table (an added token such as a non-ASCII special token); the caller then uses its raw UTF-8,
    /// as Hugging Face's ByteLevel decoder does.
    /// </summary>
    public static byte[]? TryDecode(string token)
    {
        var bytes = new byte[token.Length];
        for (var i = 0; i < token.Length; i++)
        {
            if (!s_charToByte.TryGetValue(token[i], out bytes[i]))
            {
                return null;
            }
        }

        return bytes;
    }

    private static char[] BuildByteToChar()
    {
        var table = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            table[b] = printable ? (char)b : (char)next++;
        }

        return table;
    }

    private static Dictionary<char, byte> BuildCharToByte(char[] byteToChar)
    {
        var map = new Dictionary<char, byte>(256);
        for (var b = 0; b < 256; b++)
        {
            map[byteToChar[b]] = (byte)b;
        }

        return map;
    }
}
