using ActorLlm.Cluster.Hosting;
using ActorLlm.Inference;
using Xunit;

namespace ActorLlm.Cluster.Tests.Hosting;

/// <summary>Where a node binds and what it advertises (NodeAddressing.Choose), and the route it detects the address from.</summary>
public sealed class NodeAddressingTests
{
    private static readonly string[] s_lanSeed = ["192.168.1.10:4050"];

    /// <summary>A route table: the LAN address for 192.168.1.x, 127.0.0.1 for loopback, nothing else.</summary>
    private static string? Route(string host) => host.StartsWith("192.168.1.", StringComparison.Ordinal) ? "192.168.1.11" : host == "127.0.0.1" ? "127.0.0.1" : null;

    private static string? NoRoute(string host) => throw new InvalidOperationException($"the route to {host} must not be asked when --host is given");

    [Fact]
    public void Without_host_the_address_of_the_route_to_the_first_seed_is_advertised_and_bound()
    {
        Assert.Equal(new NodeAddresses("192.168.1.11", "192.168.1.11", Detected: true), NodeAddressing.Choose("", "", s_lanSeed, Route));
        Assert.Equal(new NodeAddresses("127.0.0.1", "127.0.0.1", Detected: true), NodeAddressing.Choose("", "", ["127.0.0.1:4050", "192.168.1.10:4050"], Route));
    }

    [Fact]
    public void Bind_0_0_0_0_listens_everywhere_and_advertises_the_host_or_the_detected_address()
    {
        Assert.Equal(new NodeAddresses("0.0.0.0", "gateway", Detected: false), NodeAddressing.Choose("0.0.0.0", "gateway", ["gateway:4050"], NoRoute));
        Assert.Equal(new NodeAddresses("0.0.0.0", "192.168.1.11", Detected: true), NodeAddressing.Choose("0.0.0.0", "", s_lanSeed, Route));
        Assert.Equal(new NodeAddresses("::", "192.168.1.11", Detected: false), NodeAddressing.Choose("::", "192.168.1.11", s_lanSeed, NoRoute));
    }

    [Fact]
    public void A_given_host_is_advertised_and_bound_unless_bind_says_otherwise()
    {
        Assert.Equal(new NodeAddresses("192.168.1.11", "192.168.1.11", Detected: false), NodeAddressing.Choose("", "192.168.1.11", s_lanSeed, NoRoute));
        Assert.Equal(new NodeAddresses("10.0.0.5", "203.0.113.7", Detected: false), NodeAddressing.Choose("10.0.0.5", "203.0.113.7", s_lanSeed, NoRoute));
        Assert.Equal(new NodeAddresses("10.0.0.5", "10.0.0.5", Detected: false), NodeAddressing.Choose("10.0.0.5", "", s_lanSeed, NoRoute));
        Assert.Equal(new NodeAddresses("127.0.0.1", "127.0.0.1", Detected: false), NodeAddressing.Choose("", "127.0.0.1", ["127.0.0.1:4050"], NoRoute));
    }

    [Fact]
    public void With_no_seeds_a_node_is_on_loopback()
    {
        Assert.Equal(new NodeAddresses("127.0.0.1", "127.0.0.1", Detected: true), NodeAddressing.Choose("", "", [], NoRoute));
        Assert.Equal(new NodeAddresses("0.0.0.0", "127.0.0.1", Detected: true), NodeAddressing.Choose("0.0.0.0", "", [], NoRoute));
    }

    [Theory]
    [InlineData("", "0.0.0.0", "192.168.1.10:4050", "give --bind 0.0.0.0")]
    [InlineData("", "::", "192.168.1.10:4050", "give --bind ::")]
    [InlineData("", "127.0.0.1", "192.168.1.10:4050", "--host 127.0.0.1 is a loopback address but the seed 192.168.1.10:4050 is not")]
    [InlineData("127.0.0.1", "192.168.1.11", "192.168.1.10:4050", "--bind 127.0.0.1 listens on loopback only")]
    [InlineData("", "", "10.9.9.9:4050", "cannot tell which address of this machine reaches the seed 10.9.9.9:4050")]
    public void A_combination_that_cannot_work_is_refused_with_what_to_give(string bind, string host, string seed, string message)
    {
        var e = Assert.Throws<InvalidRequestException>(() => NodeAddressing.Choose(bind, host, [seed], Route));
        Assert.Contains(message, e.Message);
    }

    [Theory]
    [InlineData("192.168.1.10:4050", "192.168.1.10")]
    [InlineData("gateway:4050", "gateway")]
    [InlineData("[fe80::1]:4050", "fe80::1")]
    [InlineData("akka.tcp://actorllm@10.0.0.2:4050", "10.0.0.2")]
    public void The_seed_host_is_taken_from_each_form_of_seed(string seed, string host) =>
        Assert.Equal(host, NodeAddressing.SeedHost(seed));

    [Fact]
    public void The_route_to_a_loopback_seed_is_loopback_and_to_another_host_one_of_this_machines_addresses()
    {
        Assert.Equal("127.0.0.1", NodeAddressing.RouteTowards("127.0.0.1"));
        Assert.Equal("127.0.0.1", NodeAddressing.RouteTowards("localhost"));
        Assert.Null(NodeAddressing.RouteTowards("no-such-host.invalid"));

        // Towards a documentation address (nothing is sent): where this machine has a default route, the source is a
        // non-loopback address of its own, never the wildcard.
        string? lan = NodeAddressing.RouteTowards("192.0.2.1");
        if (lan is not null)
        {
            Assert.NotEqual("0.0.0.0", lan);
            Assert.Contains(System.Net.IPAddress.Parse(lan), System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(a => a.Address));
        }
    }
}
