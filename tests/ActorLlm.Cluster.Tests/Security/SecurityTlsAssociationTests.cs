using System.Security.Cryptography.X509Certificates;
using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Security.Tls;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit;

namespace ActorLlm.Cluster.Tests.Security;

/// <summary>
/// Akka.Remote's DotNetty TLS with this node's validator, end to end in one process: two actor systems with
/// certificates of a private pool CA (in no system trust store) form a cluster over akka.ssl.tcp; a third one with a
/// certificate of another CA, an expired one or a revoked one is refused in the handshake, the refusal says why, and
/// the cluster stays two members.
/// </summary>
public sealed class SecurityTlsAssociationTests : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);
    private readonly TestPki _pki = new("pool1");
    private readonly TestPki _otherCa = new("pool1");
    private readonly List<IHost> _hosts = [];

    [Theory]
    [InlineData("another CA", "not signed by this pool's CA")]
    [InlineData("expired", "expired at")]
    [InlineData("revoked", "is revoked: on the deny list")]
    public async Task Nodes_of_the_pool_CA_form_a_cluster_over_tls_and_a_bad_certificate_cannot_join(string kind, string reason)
    {
        var seedTls = NodeTls.Create(
            TlsCredentials.FromCertificates(_pki.Ca, _pki.Issue("seed", "trusted", "gateway")),
            PeerPolicy.From(p => p.Name == "revoked-node" ? "on the deny list" : null));
        int port = FreePort();
        var seed = await StartAsync(port, port, seedTls);
        var good = await StartAsync(0, port, NodeTls.Create(TlsCredentials.FromCertificates(_pki.Ca, _pki.Issue("good", "volunteer"))));
        await WaitAsync(() => Akka.Cluster.Cluster.Get(seed).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 2);
        Assert.StartsWith("akka.ssl.tcp://", Akka.Cluster.Cluster.Get(good).SelfAddress.ToString(), StringComparison.Ordinal);
        Assert.Contains(seedTls.Validator.Peers.All, p => p is { Name: "good", Volunteer: true });

        var now = DateTimeOffset.UtcNow;
        X509Certificate2 cert = kind switch
        {
            "another CA" => _otherCa.Issue("intruder"),
            "expired" => _pki.Issue("old", notBefore: now.AddDays(-2), notAfter: now.AddMinutes(-5)),
            _ => _pki.Issue("revoked-node"),
        };
        var ca = kind == "another CA" ? _otherCa.Ca : _pki.Ca;
        var bad = await StartAsync(0, port, NodeTls.Create(TlsCredentials.FromCertificates(ca, cert)));

        // The seed refuses the handshake (its validator counts it), and the intruder never becomes a member.
        await WaitAsync(() => seedTls.Validator.Refusals > 0);
        Assert.Equal(2, Akka.Cluster.Cluster.Get(seed).State.Members.Count);
        Assert.DoesNotContain(Akka.Cluster.Cluster.Get(seed).State.Members, m => m.Address.Equals(Akka.Cluster.Cluster.Get(bad).SelfAddress));
        var logged = Assert.Single(seedTls.Validator.LoggedReasons);
        Assert.Contains(reason, logged);
    }

    [Fact]
    public async Task A_volunteers_attempt_to_down_the_seed_fails_and_gets_the_volunteer_downed_while_a_trusted_member_can()
    {
        int port = FreePort();
        var seed = await StartAsync(port, port, NodeTls.Create(TlsCredentials.FromCertificates(_pki.Ca, _pki.Issue("seed", "trusted", "gateway"))), "WARNING");
        var trusted = await StartAsync(0, port, NodeTls.Create(TlsCredentials.FromCertificates(_pki.Ca, _pki.Issue("trusted-1"))));
        var volunteer = await StartAsync(0, port, NodeTls.Create(TlsCredentials.FromCertificates(_pki.Ca, _pki.Issue("volunteer-1", "volunteer"))));
        var seedCluster = Akka.Cluster.Cluster.Get(seed);
        await WaitAsync(() => seedCluster.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 3);

        // The volunteer tells the cluster the seed is down: its gossip and its Down message are dropped, and it is downed.
        Akka.Cluster.Cluster.Get(volunteer).Down(seedCluster.SelfAddress);
        var volunteerAddress = Akka.Cluster.Cluster.Get(volunteer).SelfAddress;
        await WaitAsync(
            () => !seedCluster.State.Members.Any(m => m.Address.Equals(volunteerAddress) && m.Status == Akka.Cluster.MemberStatus.Up),
            () => string.Join(", ", seedCluster.State.Members.Select(m => $"{m.Address.Port}={m.Status}")));
        Assert.Equal(Akka.Cluster.MemberStatus.Up, seedCluster.SelfMember.Status);
        Assert.Equal(Akka.Cluster.MemberStatus.Up, Akka.Cluster.Cluster.Get(trusted).State.Members.Single(m => m.Address.Equals(seedCluster.SelfAddress)).Status);

        // The control: the same call from a trusted member does down the seed (the guard, not chance, stopped the first).
        Akka.Cluster.Cluster.Get(trusted).Down(seedCluster.SelfAddress);
        await WaitAsync(() => seed.WhenTerminated.IsCompleted || seedCluster.SelfMember.Status != Akka.Cluster.MemberStatus.Up);
    }

    private async Task<ActorSystem> StartAsync(int port, int seedPort, NodeTls tls, string logLevel = "ERROR")
    {
        var settings = ActorLlmSettings.From(ActorLlmConfig.Build(null, new Dictionary<string, string>
        {
            ["actorllm.node.roles"] = "",
            ["actorllm.node.port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["actorllm.node.seeds"] = $"127.0.0.1:{seedPort}",
            ["akka.loglevel"] = logLevel,
        }, _ => null));
        var host = new HostBuilder()
            .ConfigureServices(s => s.AddAkka(ActorLlmSettings.SystemName, b => b.WithActorLlmNode(settings, tls)))
            .Build();
        _hosts.Add(host);
        await host.StartAsync();
        return host.Services.GetRequiredService<ActorSystem>();
    }

    private static async Task WaitAsync(Func<bool> condition, Func<string>? state = null)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < s_timeout, "timed out; " + state?.Invoke());
            await Task.Delay(50);
        }
    }

    private static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        foreach (var h in _hosts)
        {
            h.StopAsync().Wait(TimeSpan.FromSeconds(10));
            h.Dispose();
        }

        _pki.Dispose();
        _otherCa.Dispose();
    }
}
