using ActorLlm.Cluster.Session;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace ActorLlm.Cluster.Tests.Session;

/// <summary>
/// A small random route table: up to 6 units, 4 devices (so a device often appears with several ranges, as in a
/// hand-over), sometimes a planned chain, always some stray ranges (gaps, overlaps, ranges past the end), table
/// loads 0-4 plus the gateway's own count per device in quarters (exact in binary, so costs compare exactly).
/// </summary>
public sealed record RandomTable(int UnitCount, IReadOnlyList<RouteEntry> Entries, IReadOnlyDictionary<DeviceKey, double> Extra, IReadOnlySet<DeviceKey> Excluded)
{
    public double Load(RouteEntry e) => e.ActiveSessions + Extra[e.Device.Key];

    public override string ToString() =>
        $"{UnitCount} units, excluded [{string.Join(", ", Excluded)}], extra load {string.Join(", ", Extra.Select(p => $"{p.Key}={p.Value}"))}\n  "
        + string.Join("\n  ", Entries.Select(e => $"{e.Device.Key} {e.Range} sessions {e.ActiveSessions}"));
}

public class RouteSelectionPropertyTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(1000);

    private static readonly string[] s_nodes = ["n0", "n1", "n2", "n3"];

    private static Gen<RouteEntry> EntryGen(int units) =>
        from device in Gen.Choose(0, s_nodes.Length - 1)
        from start in Gen.Choose(0, units - 1)
        from length in Gen.Choose(1, units + 1 - start)        // may reach one past the model
        from sessions in Gen.Choose(0, 4)
        select RouteSelectionTests.Entry(s_nodes[device], start, start + length, sessions);

    private static Arbitrary<RandomTable> Tables() =>
        (from units in Gen.Choose(1, 6)
         from withChain in Gen.Elements(true, false)
         from cuts in Gen.Elements(true, false).ListOf(units)
         from chainDevices in Gen.Choose(0, s_nodes.Length - 1).ListOf(units)
         from chainSessions in Gen.Choose(0, 4).ListOf(units)
         from strayCount in Gen.Choose(0, 8)
         from strays in EntryGen(units).ListOf(strayCount)
         from extra in Gen.Choose(0, 12).ListOf(s_nodes.Length)
         from excluded in Gen.Elements(false, false, false, true).ListOf(s_nodes.Length)
         select new RandomTable(
             units,
             (withChain ? Chain(units, cuts, chainDevices, chainSessions) : []).Concat(strays).ToList(),
             s_nodes.Select((n, i) => (Key: new DeviceKey(new NodeAddress(n), "cpu"), Extra: extra[i] / 4.0)).ToDictionary(p => p.Key, p => p.Extra),
             s_nodes.Where((_, i) => excluded[i]).Select(n => new DeviceKey(new NodeAddress(n), "cpu")).ToHashSet())).ToArbitrary();

    /// <summary>A chain over [0, units) cut after unit i where cuts[i].</summary>
    private static IEnumerable<RouteEntry> Chain(int units, IList<bool> cuts, IList<int> devices, IList<int> sessions)
    {
        int start = 0;
        for (int u = 0; u < units; u++)
        {
            if (u == units - 1 || cuts[u])
            {
                yield return RouteSelectionTests.Entry(s_nodes[devices[u]], start, u + 1, sessions[u]);
                start = u + 1;
            }
        }
    }

    /// <summary>Every chain covering [0, unitCount) hop after hop without excluded devices, by exhaustive search.</summary>
    private static List<List<RouteEntry>> AllChains(RandomTable t)
    {
        var found = new List<List<RouteEntry>>();
        var path = new List<RouteEntry>();
        void Extend(int position)
        {
            if (position == t.UnitCount)
            {
                found.Add([.. path]);
                return;
            }

            foreach (var e in t.Entries.Where(e => e.Range.Start == position && !t.Excluded.Contains(e.Device.Key)))
            {
                path.Add(e);
                Extend(e.Range.End);
                path.RemoveAt(path.Count - 1);
            }
        }

        Extend(0);
        return found;
    }

    private static IReadOnlyList<RouteEntry>? Select(RandomTable t, IReadOnlyList<RouteEntry>? entries = null, IReadOnlySet<DeviceKey>? excluded = null) =>
        RouteSelection.Select(entries ?? t.Entries, t.UnitCount, excluded ?? t.Excluded, t.Load);

    [Fact]
    public void A_route_is_a_cheapest_valid_chain_and_exists_iff_one_does() =>
        Check.One(s_config, Prop.ForAll(Tables(), t =>
        {
            var route = Select(t);
            var all = AllChains(t);
            if (all.Count == 0)
            {
                Assert.Null(route);
                return;
            }

            Assert.NotNull(route);
            Assert.Equal(0, route[0].Range.Start);
            Assert.Equal(t.UnitCount, route[^1].Range.End);
            for (int i = 1; i < route.Count; i++)
            {
                Assert.Equal(route[i - 1].Range.End, route[i].Range.Start);
            }

            Assert.All(route, e => Assert.DoesNotContain(e.Device.Key, t.Excluded));
            Assert.All(route, e => Assert.Contains(e, t.Entries));

            double cost = RouteSelection.Cost(route, t.Load);
            double cheapest = all.Min(c => RouteSelection.Cost(c, t.Load));
            Assert.Equal(cheapest, cost);
            Assert.Equal(all.Where(c => RouteSelection.Cost(c, t.Load) == cheapest).Min(c => c.Count), route.Count);
        }));

    [Fact]
    public void The_route_does_not_depend_on_entry_order() =>
        Check.One(s_config, Prop.ForAll(Tables(), Gen.Choose(0, 7).ToArbitrary(), (t, rotation) =>
        {
            var route = Select(t);
            var reversed = t.Entries.Reverse().ToList();
            int r = t.Entries.Count == 0 ? 0 : rotation % t.Entries.Count;
            var rotated = t.Entries.Skip(r).Concat(t.Entries.Take(r)).ToList();
            Assert.Equal(route, Select(t, reversed));
            Assert.Equal(route, Select(t, rotated));
        }));

    [Fact]
    public void Excluding_more_devices_never_makes_the_route_cheaper() =>
        Check.One(s_config, Prop.ForAll(Tables(), t =>
        {
            if (Select(t) is not { } route)
            {
                return;
            }

            // The job's first stage fails: exclude its device too.
            var more = t.Excluded.Append(route[0].Device.Key).ToHashSet();
            if (Select(t, excluded: more) is { } retry)
            {
                Assert.DoesNotContain(retry, e => e.Device.Key == route[0].Device.Key);
                Assert.True(RouteSelection.Cost(retry, t.Load) >= RouteSelection.Cost(route, t.Load));
            }
        }));
}
