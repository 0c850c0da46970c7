using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Security.Tls;
using ActorLlm.Inference;
using Xunit;

namespace ActorLlm.Cluster.Tests.Security;

/// <summary>actorllm.tls: on by default, plain TCP only when asked, and a node without credentials refuses to start.</summary>
public sealed class SecurityTlsConfigTests
{
    private static ActorLlmSettings With(Dictionary<string, string> overrides, Func<string, string?>? env = null) =>
        ActorLlmSettings.From(ActorLlmConfig.Build(null, overrides, env ?? (_ => null)));

    [Fact]
    public void Tls_is_on_by_default_with_the_credentials_where_node_join_puts_them()
    {
        var s = ReferenceSettings.Value;
        Assert.True(s.Tls.Enabled);
        Assert.Equal(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".actorllm", "pool"), s.Tls.Credentials);
        Assert.Equal("akka.ssl.tcp", s.Tls.Protocol);
    }

    [Fact]
    public void Plain_tcp_and_the_credentials_directory_are_set_by_the_command_line_or_the_environment()
    {
        var s = With(new() { ["actorllm.tls.enabled"] = "off", ["actorllm.tls.credentials"] = "/etc/pool" });
        Assert.Equal((false, "/etc/pool", "akka.tcp"), (s.Tls.Enabled, s.Tls.Credentials, s.Tls.Protocol));

        var e = With([], v => v switch { "ACTORLLM_TLS" => "off", "ACTORLLM_TLS_CREDENTIALS" => "/srv/creds", _ => null });
        Assert.Equal((false, "/srv/creds"), (e.Tls.Enabled, e.Tls.Credentials));
    }

    [Fact]
    public void Seeds_are_akka_ssl_tcp_addresses_with_tls()
    {
        Assert.Equal("akka.ssl.tcp://actorllm@10.1.2.3:4050", ActorLlmSettings.SeedAddress("10.1.2.3:4050", tls: true));
        Assert.Equal("akka.tcp://actorllm@10.1.2.3:4050", ActorLlmSettings.SeedAddress("10.1.2.3:4050", tls: false));
        Assert.Equal("akka.ssl.tcp://actorllm@h:1", ActorLlmSettings.SeedAddress("akka.ssl.tcp://actorllm@h:1", tls: true));
    }

    [Fact]
    public void A_node_with_tls_on_and_no_credentials_refuses_to_start_saying_how_to_get_them()
    {
        using var dir = new TempDir();
        var settings = With(new()
        {
            ["actorllm.node.roles"] = "",
            ["actorllm.node.port"] = "0",
            ["actorllm.tls.credentials"] = dir["missing"],
            ["akka.loglevel"] = "ERROR",
        });
        // What `actorllm node` (and WithActorLlmNode, given no NodeTls) does first.
        var e = Assert.Throws<InvalidRequestException>(() => NodeTls.Load(settings.Tls));
        Assert.Contains("TLS is on", e.Message);
        Assert.Contains("actorllm node --join", e.Message);
        Assert.Contains("actorllm pool init", e.Message);
        Assert.Contains(TlsCredentials.CertificateFile, e.Message);
    }
}
