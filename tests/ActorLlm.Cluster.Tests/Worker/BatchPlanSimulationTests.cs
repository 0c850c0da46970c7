using ActorLlm.Cluster.Worker;
using ActorLlm.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace ActorLlm.Cluster.Tests.Worker;

/// <summary>
/// The scheduler pass after pass, as a worker runs it: steps arrive between passes in any pattern (5 sessions on 3
/// ranges, decode steps and prompt chunks, any token budget), each pass plans the queue, its deferred steps are
/// queued again ahead of the newer ones, and a session holds a KV cache slot once a step of it ran on a range. Every
/// range has a slot for every session, so nothing waits for one: what is checked is fairness and order over time.
/// </summary>
public sealed class BatchPlanSimulationTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(300);

    private static readonly UnitRange[] s_ranges = [new(0, 3), new(3, 7), new(0, 7)];

    private const int Sessions = 5;

    /// <summary>A step that arrives before pass <see cref="Pass"/>.</summary>
    public sealed record Arrival(int Pass, int Session, int Range, int Tokens);

    /// <summary>What became of one step: when it arrived, how many steps were queued ahead of it then, when it ran.</summary>
    public sealed record Outcome(Arrival Step, int Ahead, int? RanIn);

    /// <summary>Arrivals over up to 8 passes, and the budget.</summary>
    public sealed record World(IReadOnlyList<Arrival> Arrivals, int? Budget)
    {
        public override string ToString() =>
            $"budget {Budget?.ToString() ?? "none"}\n  " + string.Join("\n  ", Arrivals.Select((a, i) => $"{i}: before pass {a.Pass}: s{a.Session} {s_ranges[a.Range]} {a.Tokens} tokens"));
    }

    private static Gen<World> Worlds() =>
        from count in Gen.Choose(0, 40)
        from steps in Gen.Zip(Gen.Choose(0, 7), Gen.Zip(Gen.Choose(0, Sessions - 1), Gen.Zip(Gen.Choose(0, s_ranges.Length - 1), Gen.Frequency((2, Gen.Constant(1)), (3, Gen.Choose(2, 8)))))).ListOf(count)
        from budget in Gen.Frequency((1, Gen.Constant<int?>(null)), (4, Gen.Choose(1, 20).Select(b => (int?)b)))
        select new World([.. steps.Select(s => new Arrival(s.Item1, s.Item2.Item1, s.Item2.Item2.Item1, s.Item2.Item2.Item2)).OrderBy(a => a.Pass)], budget);

    /// <summary>Runs passes until every step ran (or far longer than any fair scheduler needs), checking each pass's budget.</summary>
    private static IReadOnlyList<Outcome> Simulate(World world)
    {
        var ahead = new int[world.Arrivals.Count];
        var ranIn = new int?[world.Arrivals.Count];
        var holding = new HashSet<(int Session, int Range)>();
        var queue = new List<int>();
        var options = new BatchOptions { MaxTokensPerPass = world.Budget };
        int lastArrival = world.Arrivals.Count > 0 ? world.Arrivals[^1].Pass : 0;
        for (int pass = 0; pass <= lastArrival || (queue.Count > 0 && pass <= lastArrival + world.Arrivals.Count + 1); pass++)
        {
            for (int i = 0; i < world.Arrivals.Count; i++)
            {
                if (world.Arrivals[i].Pass == pass)
                {
                    ahead[i] = queue.Count;
                    queue.Add(i);
                }
            }

            var free = Enumerable.Range(0, s_ranges.Length).ToDictionary(r => s_ranges[r], r => Sessions - holding.Count(h => h.Range == r));
            var plan = BatchPlan.Plan(queue, i => Describe(world.Arrivals[i], holding), free, options);
            Assert.Empty(plan.WaitingForSlot.Concat(plan.Refused).Concat(plan.Dropped));
            var batched = plan.Batches.SelectMany(b => b.Steps).ToList();
            Assert.True(world.Budget is not int max || batched.Count <= 1 || batched.Sum(i => world.Arrivals[i].Tokens) <= max, $"pass {pass} went past the budget\n{world}");
            Assert.Equal(queue.Count > 0, batched.Count > 0);
            foreach (int i in batched)
            {
                ranIn[i] = pass;
                holding.Add((world.Arrivals[i].Session, world.Arrivals[i].Range));
            }

            queue = [.. plan.Deferred];
        }

        return [.. world.Arrivals.Select((a, i) => new Outcome(a, ahead[i], ranIn[i]))];
    }

    private static QueuedStep Describe(Arrival a, HashSet<(int, int)> holding) =>
        new(new SessionId($"s{a.Session}"), s_ranges[a.Range], a.Tokens, holding.Contains((a.Session, a.Range)));

    [Fact]
    public void No_step_starves_each_runs_within_as_many_passes_as_steps_were_queued_ahead_of_it_plus_one() =>
        Check.One(s_config, Prop.ForAll(Worlds().ToArbitrary(), world =>
        {
            foreach (var o in Simulate(world))
            {
                Assert.True(o.RanIn is int ran && ran - o.Step.Pass <= o.Ahead, $"{o} ran too late or never\n{world}");
            }
        }));

    [Fact]
    public void A_sessions_prompt_chunks_and_steps_on_a_range_run_in_order_one_pass_after_another() =>
        Check.One(s_config, Prop.ForAll(Worlds().ToArbitrary(), world =>
        {
            foreach (var steps in Simulate(world).GroupBy(o => (o.Step.Session, o.Step.Range)))
            {
                var passes = steps.Select(o => o.RanIn ?? int.MaxValue).ToList();
                Assert.True(passes.Zip(passes.Skip(1)).All(p => p.First < p.Second), $"s{steps.Key.Session} on {s_ranges[steps.Key.Range]} ran in passes {string.Join(", ", passes)}\n{world}");
            }
        }));
}
