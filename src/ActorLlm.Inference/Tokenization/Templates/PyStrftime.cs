using System.Globalization;
using System.Text;

namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>Python's <c>datetime.strftime</c> in the C locale, for transformers' <c>strftime_now(format)</c> global.</summary>
internal static class PyStrftime
{
    private static readonly string[] s_days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

    private static readonly string[] s_months =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    public static string Format(DateTime time, string format)
    {
        var builder = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                builder.Append(format[i]);
                continue;
            }

            var c = format[++i];
            var noPad = c == '-' && i + 1 < format.Length;
            if (noPad)
            {
                c = format[++i];
            }

            string Pad(int value, int width) => noPad
                ? value.ToString(CultureInfo.InvariantCulture)
                : value.ToString(new string('0', width), CultureInfo.InvariantCulture);

            builder.Append(c switch
            {
                'a' => s_days[(int)time.DayOfWeek][..3],
                'A' => s_days[(int)time.DayOfWeek],
                'b' or 'h' => s_months[time.Month - 1][..3],
                'B' => s_months[time.Month - 1],
                'd' => Pad(time.Day, 2),
                'e' => time.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                'm' => Pad(time.Month, 2),
                'y' => Pad(time.Year % 100, 2),
                'Y' => time.Year.ToString(CultureInfo.InvariantCulture),
                'H' => Pad(time.Hour, 2),
                'I' => Pad(time.Hour % 12 == 0 ? 12 : time.Hour % 12, 2),
                'M' => Pad(time.Minute, 2),
                'S' => Pad(time.Second, 2),
                'f' => (time.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", CultureInfo.InvariantCulture),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'j' => Pad(time.DayOfYear, 3),
                'w' => ((int)time.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'u' => (time.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)time.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'F' => time.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                'D' => time.ToString("MM/dd/yy", CultureInfo.InvariantCulture),
                'T' => time.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
                'R' => time.ToString("HH:mm", CultureInfo.InvariantCulture),
                'c' => $"{s_days[(int)time.DayOfWeek][..3]} {s_months[time.Month - 1][..3]} {time.Day,2} {time:HH:mm:ss} {time.Year}",
                'x' => time.ToString("MM/dd/yy", CultureInfo.InvariantCulture),
                'X' => time.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
                'n' => "\n",
                't' => "\t",
                '%' => "%",
                _ => "%" + (noPad ? "-" : "") + c,
            });
        }

        return builder.ToString();
    }
}
