using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Placement;
using ActorLlm.Protocol.Messages;
using Xunit;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>What a device is trusted as: its declaration, lowered (never raised) by its node's certificate.</summary>
public sealed class TrustTests
{
    [Theory]
    [InlineData(DeviceTrust.Trusted, null, DeviceTrust.Trusted)]
    [InlineData(DeviceTrust.Volunteer, null, DeviceTrust.Volunteer)]
    [InlineData(DeviceTrust.Trusted, DeviceTrust.Trusted, DeviceTrust.Trusted)]
    [InlineData(DeviceTrust.Trusted, DeviceTrust.Volunteer, DeviceTrust.Volunteer)]
    [InlineData(DeviceTrust.Volunteer, DeviceTrust.Trusted, DeviceTrust.Volunteer)]
    [InlineData(DeviceTrust.Volunteer, DeviceTrust.Volunteer, DeviceTrust.Volunteer)]
    public void A_certificate_can_only_lower_the_declared_trust(DeviceTrust declared, DeviceTrust? certified, DeviceTrust expected) =>
        Assert.Equal(expected, PlacementCoordinator.EffectiveTrust(declared, certified));

    [Fact]
    public void A_worker_declares_itself_a_volunteer_in_its_settings()
    {
        var s = ActorLlmSettings.From(ActorLlmConfig.Build(null, new Dictionary<string, string> { ["actorllm.worker.trust"] = "Volunteer" }, _ => null));
        Assert.Equal(DeviceTrust.Volunteer, s.Worker.Trust);
    }
}
