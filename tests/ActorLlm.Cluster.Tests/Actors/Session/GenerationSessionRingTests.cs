using System.Text;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Xunit;
using static ActorLlm.Cluster.Tests.Actors.Session.Stages;

namespace ActorLlm.Cluster.Tests.Actors.Session;

/// <summary>
/// The ring (session.ring = on): a generate step carries the route and how many steps the last stage may start on its
/// own; tokens it continued from need no step from the session, which still streams every token, ends the job
/// (length, stop strings), and on a failure supersedes the ring and replays elsewhere.
/// </summary>
public sealed class GenerationSessionRingTests(StoriesModel model) : GenerationSessionSpec(model), IClassFixture<StoriesModel>
{
    /// <summary>Ordinary text tokens, more than any test here generates.</summary>
    private int[] Tokens => Model.Tokenizer.Encode(" who loved to play with her friends in the park", addSpecialTokens: false);

    /// <summary>The last stage's answer for <paramref name="position"/> within <paramref name="step"/>'s ring.</summary>
    private static void Token(StageMessages.Forward step, int position, int token, bool continued = true) =>
        step.ReplyTo.Tell(new StageMessages.TokenSampled(step.Session, step.Step, token, position, [new StageTiming("m2:cpu", 1, 1, 1)], continued));

    private string ExpectedText(int[] prompt, IEnumerable<int> generated)
    {
        string whole = Model.Tokenizer.Decode([.. prompt, .. generated]);
        return whole[Model.Tokenizer.Decode(prompt).Length..];
    }

    [Fact]
    public void The_last_prompt_chunk_starts_a_ring_bounded_by_max_tokens_and_a_token_the_stage_did_not_continue_gets_a_step_that_starts_another()
    {
        PublishDefault();
        var id = SessionId.New();
        var session = Spawn(id, Context(ring: true));
        session.Tell(Generate(id, maxTokens: 5));
        int[] prompt = PromptIds;

        var pass = ExpectPass(Front1, Back2, prompt);
        Assert.All(pass.Take(pass.Count - 1), c => Assert.Equal((0, null), (c.Loop, c.Ring)));
        Assert.Equal(4, pass[^1].Loop);
        Assert.Equal([new RouteHop(Front1.Ref, Front), new RouteHop(Back2.Ref, Back)], pass[^1].Ring!);

        // This stage answered without continuing (as a worker without the ring would): the session sends the step,
        // with a ring for the tokens still allowed.
        foreach (var chunk in pass.Take(pass.Count - 1))
        {
            chunk.ReplyTo.Tell(new StageMessages.PrefillDone(chunk.Session, chunk.Step, []));
        }

        Token(pass[^1], prompt.Length, Tokens[0], continued: false);
        var step = Front1.ExpectMsg<StageMessages.Forward>();
        Assert.Equal((pass[0].Step + 1, prompt.Length, 3), (step.Step, step.StartPosition, step.Loop));
        Assert.Equal([Tokens[0]], step.TokenIds);
        Assert.Equal([new RouteHop(Front1.Ref, Front), new RouteHop(Back2.Ref, Back)], step.Ring!);

        // The ring carries on: the session takes each token and sends nothing.
        Token(step, prompt.Length + 1, Tokens[1]);
        Token(step, prompt.Length + 2, Tokens[2]);
        Token(step, prompt.Length + 3, Tokens[3]);
        ExpectRefused(session, id);
        Front1.ExpectNoMsg(TimeSpan.Zero);

        // The ring's last step (no budget left) is not continued; it is the fifth token, so the job is done.
        Token(step, prompt.Length + 4, Tokens[4], continued: false);
        var (streamed, end, _) = ExpectJobEnd();
        var done = Assert.IsType<JobMessages.GenerationCompleted>(end);
        Assert.Equal((5, FinishReason.Length), (done.GeneratedTokens, done.FinishReason));
        Assert.Equal(ExpectedText(prompt, Tokens[..5]), done.Text);
        Assert.Equal(done.Text, streamed);
        ExpectReleased(id, Front1, Back2);
        Front1.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void The_ring_never_runs_past_the_context_and_with_the_ring_off_no_step_carries_one()
    {
        PublishDefault();
        int[] prompt = PromptIds;
        var id = SessionId.New();
        Spawn(id, Context(ring: true, contextLimit: prompt.Length + 3)).Tell(Generate(id, maxTokens: 50));
        var pass = ExpectPass(Front1, Back2, prompt);

        // Positions prompt.Length .. prompt.Length + 2 fill the context: this step samples the first, the ring two more.
        Assert.Equal(2, pass[^1].Loop);

        // (The first job counts as load on m2, so the second is routed through the replica.)
        var other = SessionId.New();
        Spawn(other, Context(ring: false)).Tell(Generate(other, maxTokens: 50));
        Assert.All(ExpectPass(Front1, Back3, prompt), s => Assert.Equal((0, null), (s.Loop, s.Ring)));
    }

    [Fact]
    public void A_stop_string_ends_the_job_inside_the_ring_and_the_tokens_still_in_flight_are_ignored()
    {
        PublishDefault();
        var id = SessionId.New();
        var session = Spawn(id, Context(ring: true));
        var options = new WireGenerationOptions(20, WireSampling.Greedy, [" loved"], true);
        session.Tell(new JobMessages.StartGeneration(id, Encoding.UTF8.GetBytes(PromptText), options, Client.Ref));
        int[] prompt = PromptIds;

        var pass = ExpectPass(Front1, Back2, prompt);
        Assert.Equal(19, pass[^1].Loop);
        foreach (var chunk in pass.Take(pass.Count - 1))
        {
            chunk.ReplyTo.Tell(new StageMessages.PrefillDone(chunk.Session, chunk.Step, []));
        }

        // The stop string is complete a few tokens in; the ring has sent more by then.
        for (int i = 0; i < Tokens.Length; i++)
        {
            Token(pass[^1], prompt.Length + i, Tokens[i]);
        }

        var (streamed, end, _) = ExpectJobEnd();
        var done = Assert.IsType<JobMessages.GenerationCompleted>(end);
        Assert.Equal(FinishReason.Stop, done.FinishReason);
        string all = ExpectedText(prompt, Tokens);
        Assert.Equal(all[..all.IndexOf(" loved", StringComparison.Ordinal)], done.Text);
        Assert.EndsWith("who", done.Text);
        Assert.Equal(done.Text, streamed);
        ExpectReleased(id, Front1, Back2);
        Client.ExpectNoMsg(TimeSpan.Zero);
        Front1.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_failure_inside_the_ring_supersedes_its_steps_on_the_route_left_and_replays_with_a_new_ring_on_the_replica()
    {
        PublishDefault();
        var id = SessionId.New();
        var session = Spawn(id, Context(ring: true));
        session.Tell(Generate(id, maxTokens: 6));
        int[] prompt = PromptIds;
        var pass = ExpectPass(Front1, Back2, prompt);
        foreach (var chunk in pass.Take(pass.Count - 1))
        {
            chunk.ReplyTo.Tell(new StageMessages.PrefillDone(chunk.Session, chunk.Step, []));
        }

        Token(pass[^1], prompt.Length, Tokens[0]);
        Token(pass[^1], prompt.Length + 1, Tokens[1]);
        Fail(pass[^1], "m2", "m2:cpu: out of memory", retryable: true);

        ExpectSuperseded(Front1, id, pass[^1].Step + 1);
        ExpectSuperseded(Back2, id, pass[^1].Step + 1);
        var replay = ExpectPass(Front1, Back3, [.. prompt, .. Tokens[..2]]);
        Assert.True(replay[0].Step > pass[^1].Step + 1);
        Assert.Equal(3, replay[^1].Loop);
        Assert.Equal([new RouteHop(Front1.Ref, Front), new RouteHop(Back3.Ref, Back)], replay[^1].Ring!);

        // The abandoned ring's tokens arrive late and change nothing.
        Token(pass[^1], prompt.Length + 2, 99);
        foreach (var chunk in replay.Take(replay.Count - 1))
        {
            chunk.ReplyTo.Tell(new StageMessages.PrefillDone(chunk.Session, chunk.Step, []));
        }

        for (int i = 2; i < 6; i++)
        {
            Token(replay[^1], prompt.Length + i, Tokens[i], continued: i < 5);
        }

        var (_, end, routes) = ExpectJobEnd();
        var done = Assert.IsType<JobMessages.GenerationCompleted>(end);
        Assert.Equal((6, 1, 2), (done.GeneratedTokens, done.Failovers, routes.Count));
        Assert.Equal(ExpectedText(prompt, Tokens[..6]), done.Text);
        ExpectReleased(id, Front1, Back2, Back3);
    }
}
