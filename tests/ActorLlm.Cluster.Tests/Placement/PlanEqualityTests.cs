using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static ActorLlm.Cluster.Tests.Placement.Pools;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>Plans compare by value: equal exactly when they say the same thing (render the same).</summary>
public sealed class PlanEqualityTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(200);

    [Fact]
    public void Plans_built_alike_are_equal_and_any_difference_in_what_they_say_makes_them_differ()
    {
        var a = Gpu("m1", 0, 10);
        var b = Gpu("m2", 0, 10);
        PlacementPlan Make(int split, int redundancy = 1, DeviceKey[]? spares = null) =>
            PlacementPlan.FromAssignments(7, redundancy, [new(a.Id, 0, new UnitRange(0, split)), new(b.Id, 0, new UnitRange(split, 7))], spares ?? []);

        Assert.Equal(Make(4), Make(4));
        Assert.Equal(Make(4).GetHashCode(), Make(4).GetHashCode());
        Assert.NotEqual(Make(4), Make(3));
        Assert.NotEqual(Make(4), Make(4, redundancy: 2));
        Assert.NotEqual(Make(4), Make(4, spares: [Gpu("m3", 0, 1).Id]));
        Assert.False(Make(4).Equals(null));
    }

    [Fact]
    public void Value_equality_agrees_with_the_rendering_over_re_plans() =>
        Check.One(s_config, Prop.ForAll(PlanGen.Churns(), churn =>
        {
            var pool = churn.Pool;
            var present = pool.Devices.Where((_, i) => churn.InitiallyPresent[i]).ToList();
            var plans = new List<PlacementPlan> { Planner.Plan(present, pool.Units, pool.Redundancy) };
            foreach (int e in churn.Events)
            {
                if (e < pool.Devices.Count)
                {
                    var toggled = pool.Devices[e];
                    present = present.Contains(toggled) ? present.Where(d => d != toggled).ToList() : [.. present, toggled];
                }

                plans.Add(Planner.Plan(present, pool.Units, pool.Redundancy, plans[^1]));
            }

            foreach (var (x, y) in plans.SelectMany(x => plans.Select(y => (x, y))))
            {
                Assert.Equal(x.Describe() == y.Describe(), x.Equals(y));
                Assert.True(!x.Equals(y) || x.GetHashCode() == y.GetHashCode());
            }
        }));
}
