using MessagePack;

namespace ActorLlm.Protocol;

/// <summary>
/// A contiguous, half-open range <c>[Start, End)</c> of a model's units. Units are numbered
/// <c>0 = begin</c> (token embedding), <c>1..L = layer 0..L-1</c> (decoder layers), <c>L+1 = end</c>
/// (final norm + LM head), so a model of L layers has L+2 units and the whole model is <c>[0, L+2)</c>.
/// </summary>
[MessagePackObject]
public readonly record struct UnitRange
{
    [SerializationConstructor]
    [System.Text.Json.Serialization.JsonConstructor]
    public UnitRange(int start, int end)
    {
        if (start < 0 || end <= start)
        {
            throw new ArgumentOutOfRangeException(nameof(end), $"a unit range needs 0 <= start < end, got [{start}, {end})");
        }

        Start = start;
        End = end;
    }

    /// <summary>First unit in the range.</summary>
    [Key(0)]
    public int Start { get; }

    /// <summary>One past the last unit in the range.</summary>
    [Key(1)]
    public int End { get; }

    [IgnoreMember]
    public int Count => End - Start;

    public bool Contains(int unit) => unit >= Start && unit < End;

    public bool Contains(UnitRange other) => other.Start >= Start && other.End <= End;

    public bool Overlaps(UnitRange other) => other.Start < End && Start < other.End;

    /// <summary>The whole model of <paramref name="layers"/> decoder layers.</summary>
    public static UnitRange Whole(int layers) => new(0, layers + 2);

    /// <summary>The unit index of decoder layer <paramref name="layer"/>.</summary>
    public static int LayerUnit(int layer) => layer + 1;

    /// <summary>"begin", "layer.N" or "end" for unit <paramref name="unit"/> of a model with <paramref name="layers"/> layers.</summary>
    public static string UnitName(int unit, int layers) =>
        unit == 0 ? "begin" : unit == layers + 1 ? "end" : unit > 0 && unit <= layers ? $"layer.{unit - 1}" : throw new ArgumentOutOfRangeException(nameof(unit));

    /// <summary>Human form using unit names, e.g. "[begin..layer.3]" (inclusive of the last unit shown).</summary>
    public string Describe(int layers) => $"[{UnitName(Start, layers)}..{UnitName(End - 1, layers)}]";

    public override string ToString() => $"[{Start}, {End})";
}
