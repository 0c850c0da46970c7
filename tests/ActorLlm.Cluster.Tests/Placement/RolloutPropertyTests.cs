using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>
/// The rollout's rules over random pools and random sequences of joins, leaves, re-plans, loads, failures and ticks,
/// played as the coordinator plays them (<see cref="RolloutWorld"/>).
/// </summary>
public sealed class RolloutPropertyTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(300);

    /// <summary>
    /// Make-before-break: a served range stops being served only in the step that completes a rollout, or when its
    /// device leaves; so until a rollout completes, the units served when the previous one completed stay served
    /// (less what left). A completing step leaves every device serving at most its target.
    /// </summary>
    [Fact]
    public void Ranges_are_released_only_when_a_rollout_completes_so_coverage_holds_until_then() =>
        Check.One(s_config, Prop.ForAll(RolloutWorld.Scenarios(), scenario =>
        {
            var world = new RolloutWorld(scenario.Pool);
            var baseline = new HashSet<int>();
            foreach (var e in scenario.Events)
            {
                var before = world.Served();
                var step = world.Play(e);
                if (step is null)
                {
                    continue;
                }

                bool completes = step.Commands.Any(c => c is RolloutCommand.ReportInPlace);
                Assert.True(!completes || step.State is RolloutState.Released, $"{e}: completed in {step.State}");
                var gone = before.Except(world.Served()).ToList();
                bool left = e.Kind == PoolEventKind.Leave;
                foreach (var (device, range) in gone)
                {
                    Assert.True(left || (completes && step.Commands.Contains(new RolloutCommand.StopServing(device, range))), $"{e}: {device} {range} stopped being served");
                }

                Assert.True(completes || !step.Commands.Any(c => c is RolloutCommand.StopServing), $"{e}: released before the rollout completed");
                if (completes)
                {
                    // A completed rollout leaves the whole plan served: no unit of it is uncovered by the releases.
                    var planned = step.State.Plan!.Assignments.SelectMany(a => Enumerable.Range(a.Range.Start, a.Range.Count)).ToHashSet();
                    Assert.True(planned.IsSubsetOf(world.Covered()), $"{e}: v{step.State.Version} completed with units {string.Join(",", planned.Except(world.Covered()))} unserved");
                    foreach (var (device, ranges) in world.Serving)
                    {
                        Assert.True(ranges.All(r => r == step.State.Target(device)), $"{e}: {device} still serves {string.Join(" ", ranges)} after v{step.State.Version}");
                    }

                    baseline = world.Covered();
                }
                else if (left)
                {
                    baseline.IntersectWith(world.Covered());
                }
                else
                {
                    Assert.Subset(world.Covered(), baseline);
                }
            }
        }));

    /// <summary>
    /// Every load reported is served or released, never neither; once no rollout waits on the device, a load of another
    /// plan that is not the device's target is always released and never served.
    /// </summary>
    [Fact]
    public void A_superseded_load_is_always_released_and_no_load_is_dropped_silently() =>
        Check.One(s_config, Prop.ForAll(RolloutWorld.Scenarios(), scenario =>
        {
            var world = new RolloutWorld(scenario.Pool);
            foreach (var e in scenario.Events)
            {
                var state = world.State;
                var step = world.Play(e);
                if (step is null || world.LastEvent is not RolloutEvent.UnitsLoaded load)
                {
                    continue;
                }

                bool served = step.Commands.Contains(new RolloutCommand.Serve(load.Device, load.Range));
                bool released = step.Commands.Any(c => c is RolloutCommand.Release r && r.Device == load.Device && r.Range == load.Range);
                Assert.True(served != released, $"{e}: served {served}, released {released}");
                bool superseded = state.Plan is not null && load.Version != state.Version && load.Range != state.Target(load.Device)
                    && (!state.IsLoading || state.Target(load.Device) is null);
                Assert.Equal(superseded, released);
            }
        }));

    /// <summary>
    /// A rollout waits only for registered devices of its plan that have not failed, sends assignments only to those
    /// (the plan's range, the plan's version), and never outlives the load timeout: a tick after it finds every late
    /// device failed and the rollout no longer loading.
    /// </summary>
    [Fact]
    public void Every_device_a_rollout_expects_ends_up_loaded_dropped_or_timed_out() =>
        Check.One(s_config, Prop.ForAll(RolloutWorld.Scenarios(), scenario =>
        {
            var world = new RolloutWorld(scenario.Pool);
            foreach (var e in scenario.Events)
            {
                var step = world.Play(e);
                if (world.State is RolloutState.Loading loading)
                {
                    Assert.Subset(world.Serving.Keys.ToHashSet(), loading.Waiting.ToHashSet());
                    Assert.Empty(loading.Waiting.Intersect(world.Failed));
                    Assert.All(loading.Waiting, d => Assert.NotNull(loading.Target(d)));
                }

                foreach (var assign in step?.Commands.OfType<RolloutCommand.Assign>() ?? [])
                {
                    var waiting = Assert.IsType<RolloutState.Loading>(world.State);
                    Assert.Equal((waiting.Version, waiting.Target(assign.Device)), (assign.Version, (UnitRange?)assign.Range));
                    Assert.Contains(assign.Device, waiting.Waiting);
                }
            }

            if (world.State is RolloutState.Loading late)
            {
                var timedOut = world.Tick(RolloutWorld.LoadTimeout + TimeSpan.FromMinutes(7));
                Assert.False(timedOut.State.IsLoading);
                Assert.Equal(late.Waiting.Order(), timedOut.Commands.OfType<RolloutCommand.MarkFailed>().Select(f => f.Device).Order());
                Assert.Subset(world.Failed, late.Waiting.ToHashSet());
            }
        }));

    /// <summary>
    /// Once the pool is quiet and every load succeeds, the re-plans asked for put the plan in place: every device of the
    /// plan serves its range, and once released nothing else is served. (An interrupted rollout whose re-plan is the
    /// same plan, every range of it served, is left as it is: the ranges it kept are released by the next rollout.)
    /// </summary>
    [Fact]
    public void A_quiet_pool_whose_loads_succeed_ends_with_the_plan_in_place() =>
        Check.One(s_config, Prop.ForAll(RolloutWorld.Scenarios(), scenario =>
        {
            var world = new RolloutWorld(scenario.Pool);
            foreach (var e in scenario.Events)
            {
                world.Play(e);
            }

            for (int round = 0; round < 4 && (world.ReplanDue || world.State.IsLoading || world.Outstanding > 0); round++)
            {
                world.Replan();
                world.LoadEverything();
            }

            Assert.False(world.State.IsLoading || world.ReplanDue || world.Outstanding > 0, $"still {world.State}");
            if (world.State.Plan is not { } plan)
            {
                Assert.Empty(world.Serving.Keys);
                return;
            }

            var expected = plan.Assignments.Select(a => (a.Device, a.Range)).ToHashSet();
            var served = world.Served();
            Assert.True(world.State is RolloutState.Released ? expected.SetEquals(served) : expected.IsSubsetOf(served), $"{world.State}\nserved: {string.Join(", ", served)}");
        }));
}
