using ActorLlm.Cluster.Session;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Xunit;
using static ActorLlm.Cluster.Tests.Actors.Session.Stages;

namespace ActorLlm.Cluster.Tests.Actors.Session;

/// <summary>A generation's steps, text stream and end; failover by replaying every token so far through another route.</summary>
public sealed class GenerationSessionTests(StoriesModel model) : GenerationSessionSpec(model), IClassFixture<StoriesModel>
{
    private string ExpectedText(int[] prompt, IEnumerable<int> generated)
    {
        // The session primes its decoder with the prompt, so prompt text + streamed text reads as the decode of the whole.
        string whole = Model.Tokenizer.Decode([.. prompt, .. generated]);
        string head = Model.Tokenizer.Decode(prompt);
        Assert.StartsWith(head, whole);
        return whole[head.Length..];
    }

    [Fact]
    public void A_generation_prefills_in_chunks_then_decodes_one_token_per_step_streaming_the_text_and_releases_every_stage_it_used()
    {
        PublishDefault();
        var id = SessionId.New();
        var session = Spawn(id);
        session.Tell(Generate(id, maxTokens: 3));
        int[] prompt = PromptIds;
        Assert.True(prompt.Length > 8, "the prompt should need three chunks of four");

        var pass = ExpectPass(Front1, Back2, prompt);
        Assert.All(pass, f => Assert.Equal((id, session), (f.Session, f.ReplyTo)));
        Answer(pass, Sampled[0]);
        for (int i = 1; i < 3; i++)
        {
            var step = Front1.ExpectMsg<StageMessages.Forward>();
            Assert.Equal((pass[0].Step + i, prompt.Length + i - 1, StepKind.Generate, Front), (step.Step, step.StartPosition, step.Kind, step.Range));
            Assert.Equal([Sampled[i - 1]], step.TokenIds);
            Assert.Equal([new RouteHop(Back2.Ref, Back)], step.Rest);
            Sample(step, Sampled[i], batchSteps: 2 * i);
        }

        var (streamed, end, routes) = ExpectJobEnd();
        var routed = Assert.Single(routes);
        Assert.Equal(["m1:cpu [begin..layer.1]", "m2:cpu [layer.2..end]"], routed.Stages);
        Assert.Equal([NodeOf("m1"), NodeOf("m2")], routed.Nodes);
        var done = Assert.IsType<JobMessages.GenerationCompleted>(end);
        Assert.Equal(ExpectedText(prompt, Sampled[..3]), done.Text);
        Assert.Equal(done.Text, streamed);
        Assert.Equal((id, prompt.Length, 3, FinishReason.Length, 0), (done.Session, done.PromptTokens, done.GeneratedTokens, done.FinishReason, done.Failovers));
        Assert.Equal(["m1:cpu [begin..layer.1]", "m2:cpu [layer.2..end]"], done.Route);
        var stage = Assert.Single(done.Stages);

        // The two decode steps ran in batches of 2 and 4 (the first token is the prefill's).
        Assert.Equal(("m2:cpu", 2, 6L, 3.0), (stage.Stage, stage.DecodeSteps, stage.DecodeBatchSteps, stage.MeanDecodeBatch));

        ExpectReleased(id, Front1, Back2);
        Front1.ExpectNoMsg(TimeSpan.Zero);
        Back3.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_retryable_stage_failure_replays_every_token_so_far_through_a_replica_and_late_answers_are_ignored()
    {
        PublishDefault();
        var id = SessionId.New();
        Spawn(id).Tell(Generate(id, maxTokens: 3));
        int[] prompt = PromptIds;
        Answer(ExpectPass(Front1, Back2, prompt), Sampled[0]);
        var lost = Front1.ExpectMsg<StageMessages.Forward>();

        Fail(lost, "m2", "m2:cpu: CUDA error", retryable: true);
        var replay = ExpectPass(Front1, Back3, [.. prompt, Sampled[0]]);
        Assert.True(replay[0].Step > lost.Step);

        // The failed route's answer comes late: it must not add a token or a step.
        Sample(lost, 99);
        Answer(replay, Sampled[1]);
        var next = Front1.ExpectMsg<StageMessages.Forward>();
        Assert.Equal((prompt.Length + 1, replay[0].Step + 1), (next.StartPosition, next.Step));
        Assert.Equal([Sampled[1]], next.TokenIds);
        Assert.Equal([new RouteHop(Back3.Ref, Back)], next.Rest);
        Sample(next, Sampled[2]);

        var (_, end, routes) = ExpectJobEnd();
        var done = Assert.IsType<JobMessages.GenerationCompleted>(end);
        Assert.Equal(ExpectedText(prompt, Sampled[..3]), done.Text);
        Assert.Equal(1, done.Failovers);
        Assert.Contains("m3:cpu [layer.2..end]", done.Route);
        Assert.Equal([NodeOf("m1"), NodeOf("m3")], routes[^1].Nodes);
        ExpectReleased(id, Front1, Back2, Back3);
    }

    [Fact]
    public void A_suspected_node_on_the_route_triggers_a_failover_and_one_off_the_route_does_not()
    {
        PublishDefault();
        var id = SessionId.New();
        Spawn(id).Tell(Generate(id, maxTokens: 3));
        int[] prompt = PromptIds;
        Answer(ExpectPass(Front1, Back2, prompt), Sampled[0]);
        var step = Front1.ExpectMsg<StageMessages.Forward>();

        // m3 is off the route: the step's answer still counts and the next step goes the same way.
        Sys.EventStream.Publish(new RouteCache.NodeSuspected(NodeOf("m3"), "unreachable"));
        Sample(step, Sampled[1]);
        var next = Front1.ExpectMsg<StageMessages.Forward>();
        Assert.Equal((step.Step + 1, step.StartPosition + 1), (next.Step, next.StartPosition));
        Assert.Equal([Sampled[1]], next.TokenIds);
        Assert.Equal([new RouteHop(Back2.Ref, Back)], next.Rest);

        Sys.EventStream.Publish(new RouteCache.NodeSuspected(NodeOf("m2"), "unreachable"));
        Answer(ExpectPass(Front1, Back3, [.. prompt, .. Sampled[..2]]), Sampled[2]);

        var done = Assert.IsType<JobMessages.GenerationCompleted>(ExpectJobEnd().End);
        Assert.Equal(ExpectedText(prompt, Sampled[..3]), done.Text);
        Assert.Equal(1, done.Failovers);
    }

    [Fact]
    public void After_max_failovers_the_job_fails_naming_every_failure()
    {
        PublishDefault();
        var id = SessionId.New();
        Spawn(id, Context(maxFailovers: 1)).Tell(Generate(id, maxTokens: 3));
        int[] prompt = PromptIds;
        Fail(ExpectPass(Front1, Back2, prompt)[^1], "m2", "m2:cpu: out of memory", retryable: true);
        Fail(ExpectPass(Front1, Back3, prompt)[^1], "m3", "m3:cpu: driver error", retryable: true);

        var failed = Assert.IsType<JobMessages.JobFailed>(ExpectJobEnd().End);
        Assert.Contains("gave up after 1 failovers", failed.Reason);
        Assert.Contains("m2:cpu: out of memory", failed.Reason);
        Assert.Contains("m3:cpu: driver error", failed.Reason);
        ExpectReleased(id, Front1, Back2, Back3);
        Front1.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_stage_failure_that_is_not_retryable_fails_the_job_at_once_and_only_once()
    {
        PublishDefault();
        var id = SessionId.New();
        var session = Spawn(id);
        session.Tell(Generate(id, maxTokens: 3));
        var pass = ExpectPass(Front1, Back2, PromptIds);

        // The first chunk is refused; a worker then refuses the next chunk too (its cache would have a gap).
        Fail(pass[0], "m2", "m2:cpu: hidden states contain NaN or infinite values", retryable: false);
        Fail(pass[1], "m2", "m2:cpu: input starts at position 4 but this stage holds 0 positions for it", retryable: false);

        var failed = Assert.IsType<JobMessages.JobFailed>(ExpectJobEnd().End);
        Assert.Equal("m2:cpu: hidden states contain NaN or infinite values", failed.Reason);
        ExpectReleased(id, Front1, Back2);

        // A second JobFailed would be queued before the refusal of a later job.
        ExpectRefused(session, id);
        Client.ExpectNoMsg(TimeSpan.Zero);
        Parent.ExpectNoMsg(TimeSpan.Zero);
        Front1.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void When_the_client_goes_away_the_session_releases_every_stage_and_stops_working()
    {
        PublishDefault();
        var id = SessionId.New();
        var session = Spawn(id);
        session.Tell(Generate(id, maxTokens: 5));
        var pass = ExpectPass(Front1, Back2, PromptIds);

        Sys.Stop(Client.Ref);
        ExpectReleased(id, Front1, Back2);
        Answer(pass, Sampled[0]);

        // A next step would be queued before the refusal of a later job.
        ExpectRefused(session, id);
        Front1.ExpectNoMsg(TimeSpan.Zero);
    }
}
