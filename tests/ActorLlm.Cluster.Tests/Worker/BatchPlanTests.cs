using ActorLlm.Cluster.Worker;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Cluster.Tests.Worker;

/// <summary>The batching and admission policy, by example: each rule of <see cref="BatchPlan"/> once.</summary>
public sealed class BatchPlanTests
{
    private static readonly UnitRange s_first = new(0, 3);
    private static readonly UnitRange s_last = new(3, 7);
    private static readonly SessionId s_a = new("a"), s_b = new("b"), s_c = new("c"), s_d = new("d");

    /// <summary>A queued step named for the test: its name is what the plan hands back.</summary>
    private sealed record Step(string Name, SessionId Session, UnitRange Range, int Tokens = 1, bool HasSlot = true, bool BehindWaiting = false, bool Released = false)
    {
        public QueuedStep Queued => new(Session, Range, Tokens, HasSlot, BehindWaiting, Released);
    }

    private static BatchPlan.Pass<Step> Plan(IReadOnlyDictionary<UnitRange, int> free, BatchOptions? options, params Step[] queue) =>
        BatchPlan.Plan(queue, s => s.Queued, free, options);

    private static string[] Names(IEnumerable<Step> steps) => [.. steps.Select(s => s.Name)];

    [Fact]
    public void Steps_of_distinct_sessions_on_one_range_run_as_one_batch_in_queue_order()
    {
        var pass = Plan(new Dictionary<UnitRange, int> { [s_first] = 0 }, null, new("a1", s_a, s_first), new("b1", s_b, s_first, 11), new("c1", s_c, s_first));

        var batch = Assert.Single(pass.Batches);
        Assert.Equal(s_first, batch.Range);
        Assert.Equal(["a1", "b1", "c1"], Names(batch.Steps));
        Assert.Empty(pass.Deferred);
        Assert.Empty(pass.WaitingForSlot);
        Assert.Empty(pass.Refused);
    }

    [Fact]
    public void A_sessions_later_steps_on_a_range_are_deferred_in_order_while_its_first_runs()
    {
        var pass = Plan(
            new Dictionary<UnitRange, int> { [s_first] = 4 },
            null,
            new("a1", s_a, s_first, 5, HasSlot: false),
            new("b1", s_b, s_first),
            new("a2", s_a, s_first, 6, HasSlot: false),
            new("a3", s_a, s_first, 1, HasSlot: false));

        Assert.Equal(["a1", "b1"], Names(Assert.Single(pass.Batches).Steps));
        Assert.Equal(["a2", "a3"], Names(pass.Deferred));
    }

    [Fact]
    public void New_sessions_beyond_the_free_slots_wait_for_one_their_later_chunks_are_deferred_and_the_others_run()
    {
        var pass = Plan(
            new Dictionary<UnitRange, int> { [s_first] = 1 },
            null,
            new("b1", s_b, s_first, 5, HasSlot: false),
            new("c1", s_c, s_first, 5, HasSlot: false),
            new("a1", s_a, s_first),
            new("c2", s_c, s_first, 6, HasSlot: false),
            new("d1", s_d, s_first, 3, HasSlot: false));

        Assert.Equal(["b1", "a1"], Names(Assert.Single(pass.Batches).Steps));
        Assert.Equal(["c1", "d1"], Names(pass.WaitingForSlot));
        Assert.Equal(["c2"], Names(pass.Deferred));
    }

    [Fact]
    public void A_step_behind_one_that_waits_for_a_slot_waits_after_it_even_when_a_slot_is_free()
    {
        // c1 waits for a slot from an earlier pass; a slot has freed (a refused step left it unused), yet c2 must
        // not take it ahead of c1: it would continue a cache c1 never wrote.
        var pass = Plan(
            new Dictionary<UnitRange, int> { [s_first] = 1 },
            null,
            new("c2", s_c, s_first, 6, HasSlot: false, BehindWaiting: true),
            new("d1", s_d, s_first, 3, HasSlot: false));

        Assert.Equal(["c2"], Names(pass.WaitingForSlot));
        Assert.Equal(["d1"], Names(Assert.Single(pass.Batches).Steps));
    }

    [Fact]
    public void Steps_for_a_range_not_served_are_refused_and_each_served_range_gets_its_batch_in_the_order_first_asked()
    {
        var unserved = new UnitRange(0, 5);
        var pass = Plan(
            new Dictionary<UnitRange, int> { [s_first] = 2, [s_last] = 2 },
            null,
            new("last-a", s_a, s_last),
            new("other-b", s_b, unserved),
            new("first-a", s_a, s_first),
            new("last-b", s_b, s_last),
            new("other-c", s_c, unserved));

        // One session may run on two ranges of the same worker in one pass: they are two stages of its route.
        Assert.Equal([s_last, s_first], pass.Batches.Select(b => b.Range));
        Assert.Equal(["last-a", "last-b"], Names(pass.Batches[0].Steps));
        Assert.Equal(["first-a"], Names(pass.Batches[1].Steps));
        Assert.Equal(["other-b", "other-c"], Names(pass.Refused));
    }

    [Fact]
    public void Without_a_token_budget_every_step_that_may_run_runs_whatever_its_length()
    {
        var pass = Plan(new Dictionary<UnitRange, int> { [s_first] = 1 }, BatchOptions.Default, new("a1", s_a, s_first, 256, HasSlot: false), new("b1", s_b, s_first), new("c1", s_c, s_first));

        Assert.Null(BatchOptions.Default.MaxTokensPerPass);
        Assert.Equal(["a1", "b1", "c1"], Names(Assert.Single(pass.Batches).Steps));
    }

    [Fact]
    public void With_a_budget_the_oldest_step_runs_first_then_every_decode_step_then_prompt_chunks_oldest_first_while_they_fit()
    {
        var pass = Plan(
            new Dictionary<UnitRange, int> { [s_first] = 4 },
            new BatchOptions { MaxTokensPerPass = 410 },
            new("a-chunk", s_a, s_first, 200),
            new("b-chunk", s_b, s_first, 200, HasSlot: false),
            new("c-decode", s_c, s_first),
            new("d-chunk", s_d, s_first, 200, HasSlot: false),
            new("e-decode", new SessionId("e"), s_first));

        // 200 + 1 + 1 + 200 = 402 fit; d's chunk would make 602. The batch itself is in queue order.
        Assert.Equal(["a-chunk", "b-chunk", "c-decode", "e-decode"], Names(Assert.Single(pass.Batches).Steps));
        Assert.Equal(["d-chunk"], Names(pass.Deferred));
    }

    [Fact]
    public void The_first_step_admitted_always_runs_even_past_the_budget_so_a_chunk_that_waited_goes_ahead_of_newer_decode_steps()
    {
        var budget = new BatchOptions { MaxTokensPerPass = 4 };
        var free = new Dictionary<UnitRange, int> { [s_first] = 1 };

        // b's chunk alone is more than the budget: it runs when it is the oldest, and the decode steps wait a pass.
        var first = Plan(free, budget, new("a1", s_a, s_first), new("b1", s_b, s_first, 9), new("c1", s_c, s_first));
        Assert.Equal(["a1", "c1"], Names(Assert.Single(first.Batches).Steps));
        Assert.Equal(["b1"], Names(first.Deferred));

        var second = Plan(free, budget, new("b1", s_b, s_first, 9), new("a2", s_a, s_first), new("c2", s_c, s_first));
        Assert.Equal(["b1"], Names(Assert.Single(second.Batches).Steps));
        Assert.Equal(["a2", "c2"], Names(second.Deferred));
    }

    [Fact]
    public void A_step_past_the_token_budget_is_deferred_without_taking_a_slot_and_a_later_one_that_fits_runs()
    {
        var pass = Plan(
            new Dictionary<UnitRange, int> { [s_first] = 1 },
            new BatchOptions { MaxTokensPerPass = 5 },
            new("a1", s_a, s_first, 3),
            new("b1", s_b, s_first, 3, HasSlot: false),
            new("c1", s_c, s_first, 2, HasSlot: false),
            new("d1", s_d, s_first, 2, HasSlot: false));

        // b1 does not fit: deferred, it leaves the free slot to c1, which fits; d1 fits no more and finds no slot.
        Assert.Equal(["a1", "c1"], Names(Assert.Single(pass.Batches).Steps));
        Assert.Equal(["b1"], Names(pass.Deferred));
        Assert.Equal(["d1"], Names(pass.WaitingForSlot));
    }

    [Fact]
    public void Decode_steps_of_new_sessions_take_free_slots_before_prompt_chunks_do()
    {
        var pass = Plan(
            new Dictionary<UnitRange, int> { [s_first] = 1 },
            null,
            new("a1", s_a, s_first, 4),
            new("b1", s_b, s_first, 4, HasSlot: false),
            new("c1", s_c, s_first, 1, HasSlot: false));

        Assert.Equal(["a1", "c1"], Names(Assert.Single(pass.Batches).Steps));
        Assert.Equal(["b1"], Names(pass.WaitingForSlot));
    }

    [Fact]
    public void Steps_of_a_released_session_are_dropped_wherever_they_are_and_take_no_slot()
    {
        var pass = Plan(
            new Dictionary<UnitRange, int> { [s_first] = 1 },
            new BatchOptions { MaxTokensPerPass = 8 },
            new("a1", s_a, s_first, 5, HasSlot: false, Released: true),
            new("b1", s_b, s_first, 5, HasSlot: false),
            new("a2", s_a, s_first, 3, HasSlot: false, Released: true),
            new("c1", s_c, s_first, 1, HasSlot: false, BehindWaiting: true, Released: true),
            new("c2", s_c, s_first, 1, Released: true));

        Assert.Equal(["b1"], Names(Assert.Single(pass.Batches).Steps));
        Assert.Equal(["a1", "a2", "c1", "c2"], Names(pass.Dropped));
        Assert.Empty(pass.Deferred);
        Assert.Empty(pass.WaitingForSlot);
    }

    [Fact]
    public void An_empty_queue_plans_nothing()
    {
        var pass = Plan(new Dictionary<UnitRange, int> { [s_first] = 1 }, null);
        Assert.Empty(pass.Batches);
        Assert.Empty(pass.Deferred);
        Assert.Empty(pass.WaitingForSlot);
        Assert.Empty(pass.Refused);
        Assert.Empty(pass.Dropped);
    }
}
