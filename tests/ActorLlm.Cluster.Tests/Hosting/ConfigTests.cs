using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference;
using Xunit;

namespace ActorLlm.Cluster.Tests.Hosting;

/// <summary>reference.conf's defaults, the override order, and refusal of bad settings.</summary>
public sealed class ConfigTests
{
    private static ActorLlmSettings Defaults() => ActorLlmSettings.From(ActorLlmConfig.Build(null, null, _ => null));

    [Fact]
    public void Defaults_are_pinned()
    {
        var s = Defaults();
        Assert.Equal(["worker"], s.Node.Roles);
        Assert.Equal("127.0.0.1", s.Node.Host);
        Assert.Equal(0, s.Node.Port);
        Assert.Empty(s.Node.Seeds);
        Assert.Equal(Environment.MachineName, s.Node.Machine);
        Assert.Equal(["cpu"], s.Worker.Devices);
        Assert.Equal("f32", s.Worker.DType);
        Assert.Equal(0, s.Worker.MemoryLimit);
        Assert.Equal(1, s.Worker.TorchThreads);
        Assert.Equal(16, s.Worker.MaxSessions);
        Assert.Equal(2048, s.Worker.MaxContext);
        Assert.Equal(TimeSpan.FromSeconds(1), s.Worker.RegisterRetry);
        Assert.Equal(TimeSpan.FromSeconds(60), s.Worker.DrainTimeout);
        Assert.Equal(1, s.Placement.Redundancy);
        Assert.Equal(0.9, s.Placement.MemoryHeadroom);
        Assert.Equal(TimeSpan.FromMilliseconds(500), s.Placement.Settle);
        Assert.Equal(TimeSpan.FromSeconds(3), s.Placement.UnreachableGrace);
        Assert.Equal(TimeSpan.FromMinutes(10), s.Placement.LoadTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), s.Placement.ResendInterval);
        Assert.Equal(TimeSpan.FromSeconds(60), s.Placement.FailedCooldown);
        Assert.Equal(TimeSpan.FromSeconds(20), s.Session.StepTimeout);
        Assert.Equal(3, s.Session.MaxFailovers);
        Assert.Equal(256, s.Session.PrefillChunk);
        Assert.Equal(TimeSpan.FromSeconds(60), s.Session.RouteWait);

        var akka = s.Config;
        Assert.Equal("cluster", akka.GetString("akka.actor.provider"));
        Assert.Equal("keep-oldest", akka.GetString("akka.cluster.split-brain-resolver.active-strategy"));
        Assert.Equal("gateway", akka.GetString("akka.cluster.split-brain-resolver.keep-oldest.role"));
        Assert.True(akka.GetBoolean("akka.cluster.split-brain-resolver.keep-oldest.down-if-alone"));
        Assert.Equal(TimeSpan.FromSeconds(7), akka.GetTimeSpan("akka.cluster.split-brain-resolver.stable-after"));
        Assert.Equal(TimeSpan.FromSeconds(4), akka.GetTimeSpan("akka.cluster.failure-detector.acceptable-heartbeat-pause"));
        Assert.Equal(10.0, akka.GetDouble("akka.cluster.failure-detector.threshold"));
        Assert.Equal(8L * 1024 * 1024, akka.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size"));
        Assert.Equal("gateway", akka.GetString("akka.cluster.sharding.role"));
        Assert.Equal("PinnedDispatcher", akka.GetString("actorllm.stage-dispatcher.type"));
        Assert.Equal("actorllm", akka.GetString("akka.actor.serialization-bindings.\"ActorLlm.Protocol.IActorLlmMessage, ActorLlm.Protocol\""));
    }

    [Fact]
    public void Command_line_beats_environment_beats_file_beats_reference()
    {
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "actorllm.node.port = 4000\nactorllm.node.machine = from-file\nactorllm.placement.redundancy = 3\nactorllm.worker.devices = [\"cuda:0\"]");
            var env = new Dictionary<string, string> { ["ACTORLLM_PORT"] = "5000", ["ACTORLLM_SEEDS"] = "10.0.0.1:4000, 10.0.0.2:4000" };
            var cli = new Dictionary<string, string> { ["actorllm.node.port"] = "6000" };
            var s = ActorLlmSettings.From(ActorLlmConfig.Build(file, cli, k => env.GetValueOrDefault(k)));
            Assert.Equal(6000, s.Node.Port);
            Assert.Equal(["10.0.0.1:4000", "10.0.0.2:4000"], s.Node.Seeds);
            Assert.Equal("from-file", s.Node.Machine);
            Assert.Equal(3, s.Placement.Redundancy);
            Assert.Equal(["cuda:0"], s.Worker.Devices);
            Assert.Equal(16, s.Worker.MaxSessions);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("actorllm.node.roles", "cook", "unknown role")]
    [InlineData("actorllm.node.seeds", "nohost", "host:port")]
    [InlineData("actorllm.node.port", "70000", "out of range")]
    [InlineData("actorllm.placement.redundancy", "0", "redundancy")]
    [InlineData("actorllm.session.step-timeout", "soon", "invalid configuration")]
    [InlineData("actorllm.placement.memory-headroom", "1.5", "memory-headroom")]
    public void Bad_settings_are_refused_with_the_reason(string path, string value, string expected)
    {
        var error = Assert.Throws<InvalidRequestException>(() =>
            ActorLlmSettings.From(ActorLlmConfig.Build(null, new Dictionary<string, string> { [path] = value }, _ => null)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_missing_or_malformed_config_file_is_refused()
    {
        Assert.Contains("not found", Assert.Throws<InvalidRequestException>(() => ActorLlmConfig.Build("/nonexistent.conf")).Message);
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "actorllm { node { port = not-a-number } }");
            Assert.Contains("invalid configuration", Assert.Throws<InvalidRequestException>(() => ActorLlmSettings.From(ActorLlmConfig.Build(file, null, _ => null))).Message);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Seeds_become_akka_addresses()
    {
        Assert.Equal("akka.tcp://actorllm@10.1.2.3:4050", ActorLlmSettings.SeedAddress("10.1.2.3:4050"));
        Assert.Equal("akka.tcp://actorllm@host:1", ActorLlmSettings.SeedAddress("akka.tcp://actorllm@host:1"));
    }
}
