using System.Diagnostics;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Xunit;

namespace ActorLlm.Cluster.Tests.Actors.Worker;

/// <summary>
/// KV cache slots of sessions nobody will release: a session's slot is a lease renewed by its steps, released when
/// the session's node leaves the cluster (its gateway died) or when no step came for worker.session-idle-timeout.
/// </summary>
public sealed class StageWorkerLeaseTests(StoriesModel model) : StageWorkerSpec(model), IClassFixture<StoriesModel>
{
    // Long enough that no gap between two of the live session's steps reaches it on a loaded 2-core box (600 ms did once, in
    // a fresh-clone run of the suite: the live session was released too).
    private static readonly TimeSpan s_idle = TimeSpan.FromMilliseconds(1500);

    [Fact]
    public void A_session_with_no_step_for_the_idle_timeout_is_released_while_one_that_keeps_stepping_keeps_its_slot()
    {
        var worker = Spawn(sessionIdleTimeout: s_idle);
        Accept(worker);
        Load(worker, StoriesModel.Whole, 1);
        var (abandoned, live) = (SessionId.New(), SessionId.New());
        var probe = CreateTestProbe();
        worker.Tell(Step(abandoned, StoriesModel.Whole, 0, Prompt, probe.Ref));
        int token0 = probe.ExpectMsg<StageMessages.TokenSampled>().Token;
        worker.Tell(Step(live, StoriesModel.Whole, 0, Prompt, TestActor));
        int token = ExpectMsg<StageMessages.TokenSampled>().Token;
        Assert.Equal(2, State(worker).ActiveSessions);

        // The live session steps again and again for three idle timeouts (replays of its prompt, so the context
        // never runs out): each step renews its lease.
        var clock = Stopwatch.StartNew();
        for (long step = 2; clock.Elapsed < s_idle * 3; step++)
        {
            worker.Tell(Step(live, StoriesModel.Whole, 0, Prompt, TestActor, step: step));
            Assert.Equal(token, ExpectMsg<StageMessages.TokenSampled>().Token);
        }

        Assert.Equal(1, State(worker).ActiveSessions);

        // Released for idleness, not forgotten as ended: a step of it that does come fails (a live session then
        // replays elsewhere), rather than being dropped while its session waits for a timeout.
        worker.Tell(Step(abandoned, StoriesModel.Whole, Prompt.Length, [token0], probe.Ref, step: 2));
        var failed = probe.ExpectMsg<StageMessages.StageFailed>();
        Assert.True(failed.Retryable);
        Assert.Contains("worker.session-idle-timeout", failed.Reason);

        // Its replay from the start runs as any new session's would.
        worker.Tell(Step(abandoned, StoriesModel.Whole, 0, Prompt, probe.Ref, step: 3));
        Assert.Equal(token0, probe.ExpectMsg<StageMessages.TokenSampled>().Token);
    }

    [Fact]
    public async Task The_sessions_of_a_node_that_leaves_the_cluster_are_released_and_the_others_kept()
    {
        // This test's system and a second one form a cluster; the second plays a gateway running a session here.
        var cluster = Akka.Cluster.Cluster.Get(Sys);
        await cluster.JoinAsync(cluster.SelfAddress);
        var gateway = ActorSystem.Create(Sys.Name, ActorTestConfig.Hocon);
        await Akka.Cluster.Cluster.Get(gateway).JoinAsync(cluster.SelfAddress);
        AwaitCondition(() => cluster.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 2, TimeSpan.FromSeconds(20));

        var worker = StartWorker(null, StoriesModel.Whole);
        var remoteSession = CreateTestProbe(gateway, "session");

        // As the worker would get it from the network: a remote reference, with the gateway's address.
        string remotePath = remoteSession.Ref.Path.ToStringWithAddress(Akka.Cluster.Cluster.Get(gateway).SelfAddress);
        var remoteRef = await Sys.ActorSelection(remotePath).ResolveOne(TimeSpan.FromSeconds(10));
        Assert.False(remoteRef.Path.Address.HasLocalScope);
        worker.Tell(Step(SessionId.New(), StoriesModel.Whole, 0, Prompt, remoteRef));
        remoteSession.ExpectMsg<StageMessages.TokenSampled>(TimeSpan.FromSeconds(10));
        worker.Tell(Step(SessionId.New(), StoriesModel.Whole, 0, Prompt, TestActor));
        ExpectMsg<StageMessages.TokenSampled>();
        Assert.Equal(2, State(worker).ActiveSessions);

        // The gateway goes (it leaves: removed as a crashed one is once downed); its session is released here.
        await Akka.Cluster.Cluster.Get(gateway).LeaveAsync();
        await gateway.Terminate();
        AwaitAssert(() => Assert.Equal(1, State(worker).ActiveSessions), TimeSpan.FromSeconds(20), TimeSpan.FromMilliseconds(100));
    }
}
