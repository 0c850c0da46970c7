using ActorLlm.Cluster.Worker.Internal;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.TestKit;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Worker;

/// <summary>
/// A worker loads what it is assigned and runs steps: activations on to the next hop, a sampled token, prefill
/// acknowledgement or choice score at the end of the route, the same answers as the model in one process, and a
/// StageFailed naming the problem for a bad request without disturbing the others.
/// </summary>
public sealed class StageWorkerServingTests(StoriesModel model) : StageWorkerSpec(model), IClassFixture<StoriesModel>
{
    [Fact]
    public void An_assigned_range_is_loaded_and_a_repeated_assignment_is_answered_again()
    {
        var worker = StartWorker(null);
        var loaded = Load(worker, First, version: 4);
        Assert.True(loaded.Seconds > 0);
        Assert.Equal([First], State(worker).Serving);

        // The coordinator resends an assignment until answered: a range already served is acknowledged at once.
        worker.Tell(new PlacementMessages.AssignUnits(5, First, []), Coordinator.Ref);
        var again = Coordinator.ExpectMsg<PlacementMessages.UnitsLoaded>();
        Assert.Equal((5L, First, 0.0), (again.Version, again.Range, again.Seconds));
        Assert.Equal([First], State(worker).Serving);
    }

    [Fact]
    public void A_first_stage_sends_the_activations_to_the_next_hop_with_the_route_shortened()
    {
        var worker = StartWorker(null, First);
        var next = CreateTestProbe();
        var after = CreateTestProbe();
        var session = CreateTestProbe();
        var id = SessionId.New();
        var hops = new[] { new RouteHop(next.Ref, new UnitRange(3, 5)), new RouteHop(after.Ref, new UnitRange(5, StoriesModel.Units)) };

        worker.Tell(Step(id, First, 0, Prompt, session.Ref, rest: hops, step: 7));
        var sent = next.ExpectMsg<StageMessages.Forward>();
        Assert.Equal((id, 7L, new UnitRange(3, 5), 0, StepKind.Generate), (sent.Session, sent.Step, sent.Range, sent.StartPosition, sent.Kind));
        Assert.Equal(Prompt, sent.TokenIds);
        Assert.Equal(session.Ref, sent.ReplyTo);
        Assert.Equal([hops[1]], sent.Rest);
        var timing = Assert.Single(sent.Timings);
        Assert.Equal(("m1:cpu", Prompt.Length), (timing.Stage, timing.Tokens));

        Assert.NotNull(sent.Hidden);
        Assert.Equal(DType.F32, sent.Hidden.DType);
        Assert.Equal([Prompt.Length, StoriesModel.Hidden], sent.Hidden.Shape);
        using var reference = StoriesModel.Reference(First);
        AssertClose(StoriesModel.Floats(StoriesModel.HiddenOf(reference, id, 0, Prompt)), StoriesModel.Floats(sent.Hidden), 1e-5);

        session.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        after.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_last_stage_samples_the_greedy_token_and_the_next_step_continues_from_its_cache()
    {
        var worker = StartWorker(null, Last);
        using var first = StoriesModel.Reference(First);
        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        var session = CreateTestProbe();
        var id = SessionId.New();
        var reference = SessionId.New();

        worker.Tell(Step(id, Last, 0, Prompt, session.Ref, StoriesModel.HiddenOf(first, id, 0, Prompt)));
        var token = session.ExpectMsg<StageMessages.TokenSampled>();
        Assert.Equal((id, 1L, Prompt.Length), (token.Session, token.Step, token.Position));
        Assert.Equal(StoriesModel.GreedyNext(whole, reference, 0, Prompt), token.Token);

        int[] next = [token.Token];
        worker.Tell(Step(id, Last, token.Position, next, session.Ref, StoriesModel.HiddenOf(first, id, token.Position, next), step: 2));
        var second = session.ExpectMsg<StageMessages.TokenSampled>();
        Assert.Equal((2L, Prompt.Length + 1), (second.Step, second.Position));
        Assert.Equal(StoriesModel.GreedyNext(whole, reference, token.Position, next), second.Token);
    }

    [Fact]
    public void Prefill_and_score_steps_at_the_end_of_the_route_answer_PrefillDone_and_ChoiceScored()
    {
        var worker = StartWorker(null, StoriesModel.Whole);
        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        var session = CreateTestProbe();
        var id = SessionId.New();

        worker.Tell(Step(id, StoriesModel.Whole, 0, Prompt[..6], session.Ref, kind: StepKind.Prefill));
        var done = session.ExpectMsg<StageMessages.PrefillDone>();
        Assert.Equal((id, 1L), (done.Session, done.Step));
        Assert.Equal(6, Assert.Single(done.Timings).Tokens);

        worker.Tell(Step(id, StoriesModel.Whole, 6, Prompt[6..], session.Ref));
        var token = session.ExpectMsg<StageMessages.TokenSampled>();
        Assert.Equal(Prompt.Length, token.Position);
        Assert.Equal(StoriesModel.GreedyNext(whole, SessionId.New(), 0, Prompt), token.Token);

        // A choice of three tokens after eight, padded with two EOS tokens to the batch's length.
        var choice = SessionId.New();
        int[] padded = [.. Prompt, 2, 2];
        worker.Tell(Step(choice, StoriesModel.Whole, 0, padded, session.Ref, kind: StepKind.Score, choiceStart: 8, choiceEnd: Prompt.Length));
        var scored = session.ExpectMsg<StageMessages.ChoiceScored>();
        Assert.Equal(choice, scored.Session);
        Assert.Equal(StoriesModel.LogProbability(whole, Prompt, 8), scored.LogProbability, 4);
        Assert.True(scored.LogProbability < 0);
    }

    [Fact]
    public void Steps_of_several_sessions_arriving_together_each_get_the_single_process_answer_and_one_sessions_chunks_run_in_order()
    {
        var worker = StartWorker(null, StoriesModel.Whole);
        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        int[][] prompts = [Prompt, Prompt[..7], Prompt[4..], [1, 403, 407, 261, 378, 432, 383]];
        var sessions = prompts.Select(_ => (Id: SessionId.New(), Probe: CreateTestProbe())).ToArray();
        var chunked = (Id: SessionId.New(), Probe: CreateTestProbe());

        // One burst: four sessions (two of them with equally long prompts, so they share a batch row group), and
        // the two prompt chunks of a fifth, whose second chunk can only run after the first (no gaps in its cache).
        worker.Tell(Step(chunked.Id, StoriesModel.Whole, 0, Prompt[..5], chunked.Probe.Ref, kind: StepKind.Prefill));
        for (int i = 0; i < prompts.Length; i++)
        {
            worker.Tell(Step(sessions[i].Id, StoriesModel.Whole, 0, prompts[i], sessions[i].Probe.Ref));
        }

        worker.Tell(Step(chunked.Id, StoriesModel.Whole, 5, Prompt[5..], chunked.Probe.Ref));

        for (int i = 0; i < prompts.Length; i++)
        {
            var token = sessions[i].Probe.ExpectMsg<StageMessages.TokenSampled>();
            Assert.Equal((sessions[i].Id, prompts[i].Length), (token.Session, token.Position));
            Assert.Equal(StoriesModel.GreedyNext(whole, SessionId.New(), 0, prompts[i]), token.Token);
        }

        chunked.Probe.ExpectMsg<StageMessages.PrefillDone>();
        var last = chunked.Probe.ExpectMsg<StageMessages.TokenSampled>();
        Assert.Equal(Prompt.Length, last.Position);
        Assert.Equal(StoriesModel.GreedyNext(whole, SessionId.New(), 0, Prompt), last.Token);
        Assert.Equal(prompts.Length + 1, State(worker).ActiveSessions);
    }

    [Fact]
    public void With_every_cache_slot_taken_a_new_session_waits_for_a_release_while_the_others_carry_on()
    {
        var worker = Spawn(maxSessions: 2);
        Accept(worker);
        Load(worker, StoriesModel.Whole, 1);
        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        var sessions = Enumerable.Range(0, 4).Select(_ => (Id: SessionId.New(), Probe: CreateTestProbe())).ToArray();
        foreach (var (id, probe) in sessions[..2])
        {
            worker.Tell(Step(id, StoriesModel.Whole, 0, Prompt, probe.Ref));
            probe.ExpectMsg<StageMessages.TokenSampled>();
        }

        // Two sessions hold both slots: the third and fourth wait, in both their prompt chunks; the first carries on.
        foreach (var (id, probe) in sessions[2..])
        {
            worker.Tell(Step(id, StoriesModel.Whole, 0, Prompt[..5], probe.Ref, kind: StepKind.Prefill));
            worker.Tell(Step(id, StoriesModel.Whole, 5, Prompt[5..], probe.Ref));
        }

        worker.Tell(Step(sessions[0].Id, StoriesModel.Whole, Prompt.Length, [5], sessions[0].Probe.Ref, step: 2));
        Assert.Equal(Prompt.Length + 1, sessions[0].Probe.ExpectMsg<StageMessages.TokenSampled>().Position);
        sessions[2].Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        sessions[3].Probe.ExpectNoMsg(TimeSpan.Zero);
        Assert.Equal(2, State(worker).ActiveSessions);

        // The fourth gives up while waiting (its session released it); a slot frees: the third runs, in order.
        worker.Tell(new StageMessages.ReleaseSession(sessions[3].Id));
        worker.Tell(new StageMessages.ReleaseSession(sessions[1].Id));
        sessions[2].Probe.ExpectMsg<StageMessages.PrefillDone>();
        Assert.Equal(StoriesModel.GreedyNext(whole, SessionId.New(), 0, Prompt), sessions[2].Probe.ExpectMsg<StageMessages.TokenSampled>().Token);
        worker.Tell(new StageMessages.ReleaseSession(sessions[0].Id));
        sessions[3].Probe.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
        Assert.Equal(1, State(worker).ActiveSessions);
    }

    [Fact]
    public void A_bad_step_is_refused_as_not_retryable_naming_the_problem_and_the_good_step_beside_it_runs()
    {
        var worker = StartWorker(null, Last);
        using var first = StoriesModel.Reference(First);
        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        var good = (Id: SessionId.New(), Probe: CreateTestProbe());
        var p = Enumerable.Range(0, 4).Select(_ => CreateTestProbe()).ToArray();
        var bad = new (string Problem, StageMessages.Forward Step, TestProbe Probe)[]
        {
            ("expected [11, 64]", Step(SessionId.New(), Last, 0, Prompt, p[0].Ref, StoriesModel.Payload(Prompt.Length, 32)), p[0]),
            ("NaN or infinite", Step(SessionId.New(), Last, 0, Prompt, p[1].Ref, StoriesModel.Payload(Prompt.Length, StoriesModel.Hidden, float.NaN)), p[1]),
            ("token id 9999 is outside the vocabulary [0, 512)", Step(SessionId.New(), Last, 0, [1, 9999, 3], p[2].Ref, StoriesModel.Payload(3, StoriesModel.Hidden)), p[2]),
            ("input starts at position 5 but this stage holds 0 positions", Step(SessionId.New(), Last, 5, [1, 2], p[3].Ref, StoriesModel.Payload(2, StoriesModel.Hidden)), p[3]),
        };

        worker.Tell(Step(good.Id, Last, 0, Prompt, good.Probe.Ref, StoriesModel.HiddenOf(first, good.Id, 0, Prompt)));
        foreach (var b in bad)
        {
            worker.Tell(b.Step);
        }

        foreach (var b in bad)
        {
            var failed = b.Probe.ExpectMsg<StageMessages.StageFailed>();
            Assert.False(failed.Retryable, failed.Reason);
            Assert.Equal((b.Step.Session, b.Step.Step, WorkerKey), (failed.Session, failed.Step, failed.Stage));
            Assert.StartsWith("m1:cpu: ", failed.Reason);
            Assert.Contains(b.Problem, failed.Reason);
        }

        var token = good.Probe.ExpectMsg<StageMessages.TokenSampled>();
        Assert.Equal(StoriesModel.GreedyNext(whole, SessionId.New(), 0, Prompt), token.Token);

        // The worker carries on: the good session's next step runs, and the refused ones left no cache behind.
        int[] next = [token.Token];
        worker.Tell(Step(good.Id, Last, token.Position, next, good.Probe.Ref, StoriesModel.HiddenOf(first, good.Id, token.Position, next), step: 2));
        Assert.Equal(Prompt.Length + 1, good.Probe.ExpectMsg<StageMessages.TokenSampled>().Position);
        Assert.Equal(1, State(worker).ActiveSessions);
    }

    [Fact]
    public void A_step_whose_answer_cannot_be_computed_is_refused_and_the_worker_keeps_its_ranges_and_sessions()
    {
        // A score step whose choice starts at position 0 has no logits before it. The wire refuses that from other
        // nodes, but a session in the same process sends it unchecked (e.g. an empty prompt on a model without BOS).
        var worker = StartWorker(null, StoriesModel.Whole);
        var session = CreateTestProbe();
        var kept = SessionId.New();
        worker.Tell(Step(kept, StoriesModel.Whole, 0, Prompt[..5], session.Ref, kind: StepKind.Prefill));
        session.ExpectMsg<StageMessages.PrefillDone>();

        var bad = Step(SessionId.New(), StoriesModel.Whole, 0, Prompt, session.Ref, kind: StepKind.Score, choiceStart: 0, choiceEnd: Prompt.Length);
        worker.Tell(bad);
        var failed = session.ExpectMsg<StageMessages.StageFailed>();
        Assert.Equal((bad.Session, WorkerKey), (failed.Session, failed.Stage));
        Assert.Contains("exceeds dimension size", failed.Reason);

        var state = State(worker);
        Assert.Equal([StoriesModel.Whole], state.Serving);
        worker.Tell(Step(kept, StoriesModel.Whole, 5, Prompt[5..], session.Ref));
        Assert.Equal(Prompt.Length, session.ExpectMsg<StageMessages.TokenSampled>().Position);
    }

    [Fact]
    public void Within_one_batch_a_bad_request_fails_alone()
    {
        // The actor batches whatever waits together, which a test cannot force; the batch runner can be given one.
        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        var runner = new StepRunner("m1:cpu", WorkerKey, new SessionHistories());
        var probes = Enumerable.Range(0, 3).Select(_ => CreateTestProbe()).ToArray();
        StageMessages.Forward[] batch =
        [
            Step(SessionId.New(), StoriesModel.Whole, 0, Prompt, probes[0].Ref),
            Step(SessionId.New(), StoriesModel.Whole, 0, [.. Prompt[..10], 600], probes[1].Ref),
            Step(SessionId.New(), StoriesModel.Whole, 0, Prompt[..7], probes[2].Ref),
        ];
        var outgoing = runner.Run(whole, batch);

        Assert.Equal(probes.Select(p => p.Ref), outgoing.Select(o => o.To));
        using var reference = StoriesModel.Reference(StoriesModel.Whole);
        Assert.Equal(StoriesModel.GreedyNext(reference, SessionId.New(), 0, Prompt), Assert.IsType<StageMessages.TokenSampled>(outgoing[0].Message).Token);
        var failed = Assert.IsType<StageMessages.StageFailed>(outgoing[1].Message);
        Assert.False(failed.Retryable);
        Assert.Contains("token id 600", failed.Reason);
        Assert.Equal(StoriesModel.GreedyNext(reference, SessionId.New(), 0, Prompt[..7]), Assert.IsType<StageMessages.TokenSampled>(outgoing[2].Message).Token);
        Assert.Equal(2, whole.ActiveSessions);

        // Once split, the good steps ran alone, and their timings say so.
        Assert.Equal(1, Assert.Single(((StageMessages.TokenSampled)outgoing[0].Message).Timings).BatchSteps);
    }

    [Fact]
    public void Each_step_of_a_batch_reports_the_batch_it_ran_in()
    {
        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        var runner = new StepRunner("m1:cpu", WorkerKey, new SessionHistories());
        var probe = CreateTestProbe();
        StageMessages.Forward[] batch =
        [
            Step(SessionId.New(), StoriesModel.Whole, 0, Prompt, probe.Ref),
            Step(SessionId.New(), StoriesModel.Whole, 0, Prompt[..7], probe.Ref, kind: StepKind.Prefill),
            Step(SessionId.New(), StoriesModel.Whole, 0, [1], probe.Ref),
        ];

        var timings = runner.Run(whole, batch).Select(o => o.Message switch
        {
            StageMessages.TokenSampled t => Assert.Single(t.Timings),
            StageMessages.PrefillDone p => Assert.Single(p.Timings),
            var other => throw new InvalidOperationException($"unexpected {other}"),
        }).ToList();

        Assert.Equal([Prompt.Length, 7, 1], timings.Select(t => t.Tokens));
        Assert.All(timings, t => Assert.Equal(("m1:cpu", 3, timings[0].ComputeMs), (t.Stage, t.BatchSteps, t.ComputeMs)));
    }

    [Fact]
    public void A_pass_of_greedy_and_sampled_steps_chooses_each_token_as_a_step_alone_would()
    {
        // Greedy rows are chosen together (one device wait); a sampled row and a logprobs row are chosen on their own.
        using var whole = StoriesModel.Reference(StoriesModel.Whole);
        var runner = new StepRunner("m1:cpu", WorkerKey, new SessionHistories());
        var probe = CreateTestProbe();
        int[][] prompts = [Prompt, Prompt[..7], Prompt[..3], [1]];
        var sampled = new WireSampling(0.8f, 0, 1f, 1f, 42);
        var batch = prompts.Select(p => Step(SessionId.New(), StoriesModel.Whole, 0, p, probe.Ref)).ToArray();
        batch[2] = batch[2] with { Sampling = sampled };
        batch[3] = batch[3] with { Sampling = WireSampling.Greedy with { Logprobs = 2 } };
        var tokens = runner.Run(whole, batch).Select(o => Assert.IsType<StageMessages.TokenSampled>(o.Message)).ToArray();

        var alone = batch.Select(f =>
        {
            using var reference = StoriesModel.Reference(StoriesModel.Whole);
            var one = Assert.Single(new StepRunner("m1:cpu", WorkerKey, new SessionHistories()).Run(reference, [f with { Session = SessionId.New() }]));
            return Assert.IsType<StageMessages.TokenSampled>(one.Message);
        }).ToArray();
        Assert.Equal(alone.Select(t => t.Token), tokens.Select(t => t.Token));
        Assert.Equal(StoriesModel.GreedyNext(whole, SessionId.New(), 0, Prompt), tokens[0].Token);
        Assert.Null(tokens[0].Logprobs);
        var logprobs = Assert.IsType<TokenLogprobs>(tokens[3].Logprobs);
        Assert.Equal(2, logprobs.TopIds.Length);
        Assert.Equal(tokens[3].Token, logprobs.TopIds[0]);
        Assert.Equal(alone[3].Logprobs!.Logprob, logprobs.Logprob, 4);
    }
}
