using ActorLlm.Cluster.Worker;
using ActorLlm.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace ActorLlm.Cluster.Tests.Worker;

/// <summary>
/// The batching policy over random queues: up to 24 steps of 5 sessions on 3 ranges (some not served), any mix of
/// decode steps and prompt chunks, of slots held and free, of sessions released and steps behind one waiting for a
/// slot, with and without a token budget. Steps are their queue positions, so a plan's buckets can be checked against
/// the queue.
/// </summary>
public sealed class BatchPlanPropertyTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(500);

    private static readonly UnitRange[] s_ranges = [new(0, 3), new(3, 7), new(0, 7)];

    private const int Sessions = 5;

    /// <summary>A random queue and what the worker knows of its ranges.</summary>
    public sealed record Case(IReadOnlyList<QueuedStep> Queue, IReadOnlyDictionary<UnitRange, int> Free, int? Budget)
    {
        public BatchPlan.Pass<int> Plan() =>
            BatchPlan.Plan(Enumerable.Range(0, Queue.Count).ToList(), i => Queue[i], Free, new BatchOptions { MaxTokensPerPass = Budget });

        /// <summary>
        /// The steps the admission rules apply to: the first of each session on each served range, unless released or
        /// behind one waiting for a slot.
        /// </summary>
        public IReadOnlyList<int> Candidates() =>
            [.. Enumerable.Range(0, Queue.Count)
                .Where(i => !Queue[i].Released && Free.ContainsKey(Queue[i].Range))
                .GroupBy(i => (Queue[i].Session, Queue[i].Range))
                .Select(g => g.First())
                .Where(i => !Queue[i].BehindWaiting)
                .Order()];

        public override string ToString() =>
            $"budget {Budget?.ToString() ?? "none"}, free {string.Join(", ", Free.Select(f => $"{f.Key}: {f.Value}"))}\n  "
            + string.Join("\n  ", Queue.Select((q, i) =>
                $"{i}: {q.Session} {q.Range} {q.Tokens} tokens{(q.HasSlot ? ", has a slot" : "")}{(q.BehindWaiting ? ", behind waiting" : "")}{(q.Released ? ", released" : "")}"));
    }

    private static Gen<int> Tokens() => Gen.Frequency((2, Gen.Constant(1)), (3, Gen.Choose(2, 8)));

    private static Gen<Case> Cases() =>
        from served in Gen.Elements(true, false).ListOf(s_ranges.Length)
        from free in Gen.Choose(0, 3).ListOf(s_ranges.Length)
        from holds in Gen.Elements(true, false).ListOf(Sessions * s_ranges.Length)
        from behind in Gen.Elements(true, false, false, false).ListOf(Sessions * s_ranges.Length)
        from released in Gen.Elements(true, false, false, false, false).ListOf(Sessions)
        from count in Gen.Choose(0, 24)
        from picks in Gen.Zip(Gen.Choose(0, Sessions - 1), Gen.Zip(Gen.Choose(0, s_ranges.Length - 1), Tokens())).ListOf(count)
        from budget in Gen.Frequency((1, Gen.Constant<int?>(null)), (2, Gen.Choose(1, 20).Select(b => (int?)b)))
        select new Case(
            [.. picks.Select(p =>
            {
                int slot = (p.Item1 * s_ranges.Length) + p.Item2.Item1;

                // A session waiting for a slot holds none there.
                return new QueuedStep(new SessionId($"s{p.Item1}"), s_ranges[p.Item2.Item1], p.Item2.Item2, holds[slot] && !behind[slot], behind[slot] && !holds[slot], released[p.Item1]);
            })],
            Enumerable.Range(0, s_ranges.Length).Where(r => served[r]).ToDictionary(r => s_ranges[r], r => free[r]),
            budget);

    private static IEnumerable<int> Batched(BatchPlan.Pass<int> pass) => pass.Batches.SelectMany(b => b.Steps);

    [Fact]
    public void Every_queued_step_ends_up_in_exactly_one_bucket() =>
        Check.One(s_config, Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            var pass = c.Plan();
            var all = Batched(pass).Concat(pass.Deferred).Concat(pass.WaitingForSlot).Concat(pass.Refused).Concat(pass.Dropped).Order();
            Assert.Equal(Enumerable.Range(0, c.Queue.Count), all);
        }));

    [Fact]
    public void A_released_sessions_steps_are_all_dropped_and_only_they_are() =>
        Check.One(s_config, Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            var pass = c.Plan();
            Assert.Equal(Enumerable.Range(0, c.Queue.Count).Where(i => c.Queue[i].Released), pass.Dropped);
            Assert.DoesNotContain(Batched(pass).Concat(pass.Deferred).Concat(pass.WaitingForSlot).Concat(pass.Refused), i => c.Queue[i].Released);
        }));

    [Fact]
    public void Batches_are_one_per_served_range_each_with_its_own_steps_and_a_session_at_most_once() =>
        Check.One(s_config, Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            var pass = c.Plan();
            Assert.Equal(pass.Batches.Count, pass.Batches.Select(b => b.Range).Distinct().Count());
            foreach (var batch in pass.Batches)
            {
                Assert.True(c.Free.ContainsKey(batch.Range));
                Assert.NotEmpty(batch.Steps);
                Assert.All(batch.Steps, i => Assert.Equal(batch.Range, c.Queue[i].Range));
                Assert.Equal(batch.Steps.Count, batch.Steps.Select(i => c.Queue[i].Session).Distinct().Count());
            }

            Assert.All(pass.Refused, i => Assert.False(c.Free.ContainsKey(c.Queue[i].Range)));
            Assert.All(Batched(pass).Concat(pass.Deferred).Concat(pass.WaitingForSlot), i => Assert.True(c.Free.ContainsKey(c.Queue[i].Range)));
        }));

    [Fact]
    public void No_range_admits_more_new_sessions_than_it_has_free_slots_and_a_step_waits_only_when_it_must() =>
        Check.One(s_config, Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            var pass = c.Plan();
            foreach (var batch in pass.Batches)
            {
                Assert.True(batch.Steps.Count(i => !c.Queue[i].HasSlot) <= c.Free[batch.Range], c.ToString());
            }

            Assert.All(pass.WaitingForSlot, i => Assert.False(c.Queue[i].HasSlot));

            // A step waits when it is behind one of its session's that waits, or when its range's free slots all went
            // to new sessions of this pass: no slot is left unused while a step waits for one.
            foreach (int w in pass.WaitingForSlot.Where(w => !c.Queue[w].BehindWaiting))
            {
                var range = c.Queue[w].Range;
                Assert.Equal(c.Free[range], Batched(pass).Count(i => c.Queue[i].Range == range && !c.Queue[i].HasSlot));
            }
        }));

    [Fact]
    public void A_sessions_steps_keep_their_order_only_its_first_on_a_range_runs_or_waits_and_buckets_keep_queue_order() =>
        Check.One(s_config, Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            var pass = c.Plan();
            var runsOrWaits = Batched(pass).Concat(pass.WaitingForSlot).ToHashSet();
            foreach (var steps in Enumerable.Range(0, c.Queue.Count).Where(i => !c.Queue[i].Released).GroupBy(i => (c.Queue[i].Session, c.Queue[i].Range)))
            {
                // Everything after a (session, range)'s first step is deferred, so it runs after it.
                Assert.All(steps.Skip(1), i => Assert.True(pass.Deferred.Contains(i) || pass.Refused.Contains(i), c.ToString()));
                Assert.True(steps.Count(runsOrWaits.Contains) <= 1);
            }

            foreach (var bucket in pass.Batches.Select(b => b.Steps).Append(pass.Deferred).Append(pass.WaitingForSlot).Append(pass.Refused).Append(pass.Dropped))
            {
                Assert.Equal(bucket.Order(), bucket);
            }
        }));

    [Fact]
    public void Without_a_budget_only_later_steps_of_a_session_are_deferred_and_with_one_the_pass_keeps_to_it() =>
        Check.One(s_config, Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            var pass = c.Plan();
            var tokens = Batched(pass).Sum(i => c.Queue[i].Tokens);
            if (c.Budget is int budget)
            {
                Assert.True(tokens <= budget || Batched(pass).Count() == 1, c.ToString());
                Assert.Equal(pass.Batches.Count > 0, c.Candidates().Any(i => c.Queue[i].HasSlot || c.Free[c.Queue[i].Range] > 0));
            }
            else
            {
                var firsts = Enumerable.Range(0, c.Queue.Count).Where(i => !c.Queue[i].Released).GroupBy(i => (c.Queue[i].Session, c.Queue[i].Range)).Select(g => g.First());
                Assert.Equal(Enumerable.Range(0, c.Queue.Count).Where(i => !c.Queue[i].Released && c.Free.ContainsKey(c.Queue[i].Range)).Except(firsts), pass.Deferred.Order());
            }
        }));

    [Fact]
    public void The_oldest_step_that_may_run_runs_then_decode_steps_go_before_prompt_chunks_and_the_budget_is_used_up() =>
        Check.One(s_config, Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            var pass = c.Plan();
            var batched = Batched(pass).ToHashSet();
            var candidates = c.Candidates();

            // The oldest candidate is never deferred: it runs, or it waits for a slot.
            if (candidates.Count > 0)
            {
                Assert.True(batched.Contains(candidates[0]) || pass.WaitingForSlot.Contains(candidates[0]), c.ToString());
            }

            // A candidate deferred (for the budget, then) did not fit beside the steps admitted before it, in the order
            // oldest, decode steps, prompt chunks (each oldest first): the pass takes what fits, first fit.
            var order = candidates.Take(1).Concat(candidates.Skip(1).Where(i => c.Queue[i].IsDecode)).Concat(candidates.Skip(1).Where(i => !c.Queue[i].IsDecode)).ToList();
            var deferred = candidates.Where(pass.Deferred.Contains).ToList();
            foreach (int d in deferred)
            {
                int before = order.TakeWhile(i => i != d).Where(batched.Contains).Sum(i => c.Queue[i].Tokens);
                Assert.True(c.Budget is int max && before > 0 && before + c.Queue[d].Tokens > max, $"{d} was deferred\n{c}");
            }

            // While a decode step is deferred for the budget, no prompt chunk runs but the oldest step.
            if (deferred.Any(d => c.Queue[d].IsDecode))
            {
                Assert.All(batched.Where(i => !c.Queue[i].IsDecode), i => Assert.Equal(candidates[0], i));
            }
        }));

    [Fact]
    public void Plans_are_deterministic() =>
        Check.One(s_config, Prop.ForAll(Cases().ToArbitrary(), c =>
        {
            var (one, two) = (c.Plan(), c.Plan());
            Assert.Equal(one.Batches.Select(b => (b.Range, string.Join(",", b.Steps))), two.Batches.Select(b => (b.Range, string.Join(",", b.Steps))));
            Assert.Equal(one.Deferred, two.Deferred);
            Assert.Equal(one.WaitingForSlot, two.WaitingForSlot);
            Assert.Equal(one.Refused, two.Refused);
            Assert.Equal(one.Dropped, two.Dropped);
        }));
}
