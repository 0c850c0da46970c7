using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Placement;
using ActorLlm.Cluster.Tests.Actors.Placement;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Xunit;

namespace ActorLlm.Cluster.Tests.Placement;

/// <summary>
/// A volunteer cannot take over by claiming: its memory and speed are lowered to <c>actorllm.placement.claims</c>;
/// a trusted device keeps what it claims.
/// </summary>
public sealed class SecurityClaimTests
{
    private const long GiB = 1024L * 1024 * 1024;

    private static readonly ClaimCaps s_caps = new(192 * GiB, 100_000);

    private static DeviceDescriptor Device(long memory, double speed, DeviceTrust trust) =>
        new(new NodeAddress("akka.tcp://actorllm@10.0.0.9:4051"), "cuda:0", "vol-pc", memory, speed, DType.F16, 8 * GiB, 2e10, trust);

    [Fact]
    public void A_volunteer_claiming_a_terabyte_and_absurd_speed_is_capped_to_both()
    {
        var claimed = Device(1024 * GiB, 1e12, DeviceTrust.Volunteer);
        var capped = Claims.Capped(claimed, s_caps);
        Assert.Equal(192 * GiB, capped.MemoryBytes);
        Assert.Equal(100_000, capped.Speed);
        Assert.Equal(claimed with { MemoryBytes = 192 * GiB, Speed = 100_000 }, capped);
        Assert.Equal(["claimed 1,099,511,627,776 bytes, capped to 206,158,430,208", "claimed speed 1000000000000, capped to 100000"], Claims.Changes(claimed, capped));
    }

    [Fact]
    public void A_volunteer_claiming_huge_pinnable_memory_and_bandwidth_is_capped_to_both()
    {
        var claimed = Device(24 * GiB, 3000, DeviceTrust.Volunteer) with { PinnableBytes = 4096 * GiB, HostToDeviceBytesPerSecond = 1e15 };
        var capped = Claims.Capped(claimed, s_caps);
        Assert.Equal(claimed with { PinnableBytes = 512 * GiB, HostToDeviceBytesPerSecond = 128e9 }, capped);
        Assert.Equal(2, Claims.Changes(claimed, capped).Count);
        Assert.Contains("capped to 549,755,813,888", Claims.Changes(claimed, capped)[0]);
        var trusted = claimed with { Trust = DeviceTrust.Trusted };
        Assert.Same(trusted, Claims.Capped(trusted, s_caps));
    }

    [Fact]
    public void A_trusted_device_keeps_its_claims_however_large()
    {
        var claimed = Device(1024 * GiB, 1e12, DeviceTrust.Trusted);
        Assert.Same(claimed, Claims.Capped(claimed, s_caps));
    }

    [Theory]
    [InlineData(24L * GiB, 3000.0)]
    [InlineData(192L * GiB, 100_000.0)]
    public void A_volunteer_within_the_caps_keeps_its_claims(long memory, double speed)
    {
        var claimed = Device(memory, speed, DeviceTrust.Volunteer);
        var capped = Claims.Capped(claimed, s_caps);
        Assert.Same(claimed, capped);
        Assert.Empty(Claims.Changes(claimed, capped));
    }

    [Fact]
    public void Only_the_claim_over_its_cap_is_lowered()
    {
        var fast = Claims.Capped(Device(24 * GiB, 5e6, DeviceTrust.Volunteer), s_caps);
        Assert.Equal((24 * GiB, 100_000.0), (fast.MemoryBytes, fast.Speed));
        var big = Claims.Capped(Device(500 * GiB, 3000, DeviceTrust.Volunteer), s_caps);
        Assert.Equal((192 * GiB, 3000.0), (big.MemoryBytes, big.Speed));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_volunteer_speed_that_is_not_a_number_or_infinite_counts_as_above_the_cap(double speed) =>
        Assert.Equal(100_000, Claims.Capped(Device(24 * GiB, speed, DeviceTrust.Volunteer), s_caps).Speed);

    [Fact]
    public void Capping_keeps_everything_else_the_device_said()
    {
        var claimed = Device(1024 * GiB, 1e12, DeviceTrust.Volunteer);
        var capped = Claims.Capped(claimed, s_caps);
        Assert.Equal((claimed.Key, claimed.Machine, claimed.DType, claimed.PinnableBytes, claimed.HostToDeviceBytesPerSecond, claimed.Trust),
            (capped.Key, capped.Machine, capped.DType, capped.PinnableBytes, capped.HostToDeviceBytesPerSecond, capped.Trust));
    }

    [Fact]
    public void The_caps_are_settings()
    {
        var s = ActorLlmSettings.From(ActorLlmConfig.Build(null, new Dictionary<string, string>
        {
            ["actorllm.placement.claims.max-memory"] = "48 GiB",
            ["actorllm.placement.claims.max-speed"] = "20000",
        }, _ => null));
        Assert.Equal(new ClaimCaps(48 * GiB, 20_000), s.Placement.Claims);
        var capped = Claims.Capped(Device(80 * GiB, 30_000, DeviceTrust.Volunteer), s.Placement.Claims);
        Assert.Equal((48 * GiB, 20_000.0), (capped.MemoryBytes, capped.Speed));
    }
}

/// <summary>The coordinator registers a volunteer with its claims capped (<see cref="ClaimCaps.Default"/>), a trusted device as it claims.</summary>
public sealed class SecurityClaimCoordinatorTests : PlacementCoordinatorSpec
{
    private const long TiB = 1024L * 1024 * 1024 * 1024;

    [Fact]
    public void A_volunteer_registers_with_its_claims_capped_and_a_trusted_device_as_it_claims()
    {
        var coordinator = StartCoordinator();
        var volunteer = NewDevice("vol-pc");
        volunteer = volunteer with { Descriptor = volunteer.Descriptor with { MemoryBytes = TiB, Speed = 1e12, Trust = DeviceTrust.Volunteer } };
        var owner = NewDevice("own-pc");
        owner = owner with { Descriptor = owner.Descriptor with { MemoryBytes = TiB, Speed = 1e12 } };
        foreach (var d in new[] { volunteer, owner })
        {
            coordinator.Tell(Registration(d), d.Worker.Ref);
            Assert.True(d.Worker.ExpectMsg<PlacementMessages.DeviceRegistered>().Accepted);
        }

        var devices = Status(coordinator).Devices.ToDictionary(d => d.Device.Key, d => d.Device);
        Assert.Equal((ClaimCaps.Default.MaxMemoryBytes, ClaimCaps.Default.MaxSpeed), (devices[volunteer.Key].MemoryBytes, devices[volunteer.Key].Speed));
        Assert.Equal((TiB, 1e12), (devices[owner.Key].MemoryBytes, devices[owner.Key].Speed));
    }
}
