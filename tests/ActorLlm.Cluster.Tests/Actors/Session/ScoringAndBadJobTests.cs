using System.Text;
using ActorLlm.Cluster.Session;
using ActorLlm.Inference.Generation;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.TestKit;
using Xunit;
using static ActorLlm.Cluster.Tests.Actors.Session.Stages;

namespace ActorLlm.Cluster.Tests.Actors.Session;

/// <summary>Scoring jobs through a session, and jobs a session refuses with a reason instead of running.</summary>
public sealed class ScoringAndBadJobTests(StoriesModel model) : GenerationSessionSpec(model), IClassFixture<StoriesModel>
{
    private const string ScorePrompt = "Once upon a time";

    private static readonly string[] s_choices = [" there was a girl", " the end"];

    private List<StageMessages.Forward> ExpectChoices(SessionId id, TestProbe next)
    {
        int[] promptIds = Model.Tokenizer.Encode(ScorePrompt);
        var sequences = s_choices.Select(c => ChoiceScoring.Sequence(Model.Tokenizer, ScorePrompt, promptIds, c)).ToArray();
        int length = sequences.Max(s => s.Sequence.Length);
        var steps = s_choices.Select(_ => Front1.ExpectMsg<StageMessages.Forward>()).ToList();
        for (int i = 0; i < steps.Count; i++)
        {
            var s = steps[i];
            var (sequence, start) = sequences[i];
            Assert.Equal((new SessionId($"{id.Value}.c{i}"), StepKind.Score, 0, Front), (s.Session, s.Kind, s.StartPosition, s.Range));
            Assert.Equal((start, sequence.Length, steps[0].Step), (s.ChoiceStart, s.ChoiceEnd, s.Step));
            Assert.Equal([.. sequence, .. Enumerable.Repeat(2, length - sequence.Length)], s.TokenIds);
            Assert.Equal([new RouteHop(next.Ref, Back)], s.Rest);
        }

        Assert.NotEqual(sequences[0].Sequence.Length, sequences[1].Sequence.Length);
        return steps;
    }

    private static void Score(StageMessages.Forward step, double logProbability) =>
        step.ReplyTo.Tell(new StageMessages.ChoiceScored(step.Session, step.Step, logProbability, [new StageTiming("m2:cpu", 1, step.TokenIds.Length, 1)]));

    [Fact]
    public void Scoring_sends_one_padded_step_per_choice_replays_them_all_on_a_failure_and_reports_the_best_first()
    {
        PublishDefault();
        var id = SessionId.New();
        Spawn(id).Tell(new JobMessages.StartScoring(id, Encoding.UTF8.GetBytes(ScorePrompt), s_choices, Client.Ref));
        var first = ExpectChoices(id, Back2);

        // One choice's stage fails: every choice goes again through the replica; the failed round's late scores are dropped.
        Fail(first[0], "m2", "m2:cpu: out of memory", retryable: true);

        // The route left behind is told to drop its steps, for each sub-session.
        foreach (var stage in new[] { Front1, Back2 })
        {
            ExpectSuperseded(stage, new SessionId($"{id.Value}.c0"), first[0].Step + 1);
            ExpectSuperseded(stage, new SessionId($"{id.Value}.c1"), first[0].Step + 1);
        }

        var again = ExpectChoices(id, Back3);
        Assert.True(again[0].Step > first[0].Step);
        Score(first[1], -0.5);
        Score(again[1], -1.5);
        Score(again[0], -4.25);

        var (_, end, routes) = ExpectJobEnd();
        Assert.Equal(2, routes.Count);
        var done = Assert.IsType<JobMessages.ScoringCompleted>(end);
        Assert.Equal(id, done.Session);
        Assert.Equal([(1, " the end", -1.5), (0, " there was a girl", -4.25)], done.Scores.Select(s => (s.Index, s.Choice, s.LogProbability)));
        Assert.Equal([again[1].ChoiceEnd - again[1].ChoiceStart, again[0].ChoiceEnd - again[0].ChoiceStart], done.Scores.Select(s => s.Tokens));

        // Each choice ran as its own sub-session on every stage used.
        foreach (var stage in new[] { Front1, Back2, Back3 })
        {
            stage.FishForMessage<StageMessages.ReleaseSession>(r => r.Session.Value == $"{id.Value}.c0");
            stage.FishForMessage<StageMessages.ReleaseSession>(r => r.Session.Value == $"{id.Value}.c1");
        }

        Parent.ExpectMsg<Akka.Cluster.Sharding.Passivate>();
    }

    /// <summary>
    /// Expects the session to have told its RouteCache (a probe here) only that it is done: it never asked for a
    /// route, and a session reaches stages only through a route it asked for.
    /// </summary>
    private static void ExpectNoRouteAsked(TestProbe routes) => Assert.IsType<RouteCache.CancelSelect>(routes.ExpectMsg<object>());

    [Fact]
    public void A_prompt_that_is_not_valid_utf8_fails_the_job_with_the_reason_and_touches_no_stage()
    {
        var routes = CreateTestProbe();
        var context = Context() with { RouteCache = routes.Ref };
        byte[] invalid = [0x4F, 0x6E, 0xFF, 0x65];
        var generation = SessionId.New();
        Spawn(generation, context).Tell(new JobMessages.StartGeneration(generation, invalid, new WireGenerationOptions(5, WireSampling.Greedy, [], true), Client.Ref));
        Assert.Contains("not valid UTF-8", Client.ExpectMsg<JobMessages.JobFailed>().Reason);
        Parent.ExpectMsg<Akka.Cluster.Sharding.Passivate>();
        ExpectNoRouteAsked(routes);

        var scoring = SessionId.New();
        Spawn(scoring, context).Tell(new JobMessages.StartScoring(scoring, invalid, s_choices, Client.Ref));
        Assert.Contains("not valid UTF-8", Client.ExpectMsg<JobMessages.JobFailed>().Reason);
        Parent.ExpectMsg<Akka.Cluster.Sharding.Passivate>();
        ExpectNoRouteAsked(routes);
    }

    [Fact]
    public void A_prompt_longer_than_the_context_fails_the_job_saying_so()
    {
        var routes = CreateTestProbe();
        var context = Context(contextLimit: 8) with { RouteCache = routes.Ref };
        var generation = SessionId.New();
        Spawn(generation, context).Tell(Generate(generation, maxTokens: 5));
        var failed = Client.ExpectMsg<JobMessages.JobFailed>();
        Assert.Equal(generation, failed.Session);
        Assert.Equal($"the prompt has {PromptIds.Length} tokens but the context holds 8: shorten it", failed.Reason);
        Parent.ExpectMsg<Akka.Cluster.Sharding.Passivate>();
        ExpectNoRouteAsked(routes);

        var scoring = SessionId.New();
        Spawn(scoring, context).Tell(new JobMessages.StartScoring(scoring, Encoding.UTF8.GetBytes(PromptText), s_choices, Client.Ref));
        Assert.Contains("but the context holds 8", Client.ExpectMsg<JobMessages.JobFailed>().Reason);
        ExpectNoRouteAsked(routes);
    }

    [Fact]
    public void Without_a_complete_route_within_the_route_wait_the_job_fails()
    {
        Publish(1, Entry(Front1.Ref, "m1", Front));
        var id = SessionId.New();
        Spawn(id, Context(routeWait: TimeSpan.FromMilliseconds(300))).Tell(Generate(id, maxTokens: 5));
        var failed = Client.ExpectMsg<JobMessages.JobFailed>();
        Assert.StartsWith("no complete route to the model within", failed.Reason);
        Parent.ExpectMsg<Akka.Cluster.Sharding.Passivate>();
        Front1.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_second_job_for_a_running_session_is_refused_and_the_first_carries_on()
    {
        PublishDefault();
        var id = SessionId.New();
        var session = Spawn(id);
        session.Tell(Generate(id, maxTokens: 1));
        var pass = ExpectPass(Front1, Back2, PromptIds);

        var intruder = CreateTestProbe();
        session.Tell(new JobMessages.StartScoring(id, Encoding.UTF8.GetBytes(ScorePrompt), s_choices, intruder.Ref));
        Assert.Contains("already running a job", intruder.ExpectMsg<JobMessages.JobFailed>().Reason);

        Answer(pass, Model.Tokenizer.Encode(" who", addSpecialTokens: false)[0]);
        Assert.IsType<JobMessages.GenerationCompleted>(ExpectJobEnd().End);
    }
}
