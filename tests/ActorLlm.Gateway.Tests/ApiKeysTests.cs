using ActorLlm.Cluster.Hosting;
using ActorLlm.Gateway.Api;
using ActorLlm.Inference;
using ActorLlm.Testing;
using Xunit;

namespace ActorLlm.Gateway.Tests;

public sealed class ApiKeysTests
{
    private static HttpSettings Settings(bool auth = true, string file = "", string env = "KEYS") =>
        ActorLlmSettings.From(ActorLlmConfig.Build(null, new Dictionary<string, string>
        {
            ["actorllm.http.auth"] = auth ? "on" : "off",
            ["actorllm.http.api-keys-file"] = file,
            ["actorllm.http.api-keys-env"] = env,
        }, _ => null)).Http;

    [Fact]
    public void Keys_come_from_the_file_and_the_environment_and_only_they_are_accepted()
    {
        using var dir = new TempDir();
        string file = Path.Combine(dir.Path, "keys");
        File.WriteAllLines(file, ["# operators", "sk-one  # alice", "", "  sk-two"]);
        var keys = ApiKeys.Load(Settings(file: file), name => name == "KEYS" ? "sk-three, sk-four" : null);
        Assert.Equal(4, keys.Count);
        foreach (var k in new[] { "sk-one", "sk-two", "sk-three", "sk-four" })
        {
            Assert.True(keys.Accepts("Bearer " + k), k);
        }

        Assert.True(keys.Accepts("bearer sk-one"));
        Assert.False(keys.Accepts(null));
        Assert.False(keys.Accepts(""));
        Assert.False(keys.Accepts("sk-one"));
        Assert.False(keys.Accepts("Basic sk-one"));
        Assert.False(keys.Accepts("Bearer sk-on"));
        Assert.False(keys.Accepts("Bearer sk-one2"));
        Assert.False(keys.Accepts("Bearer # alice"));
    }

    [Fact]
    public void Auth_on_without_any_key_refuses_to_start_and_auth_off_serves_everyone()
    {
        var e = Assert.Throws<InvalidRequestException>(() => ApiKeys.Load(Settings(), _ => null));
        Assert.Contains("no API key", e.Message);
        var open = ApiKeys.Load(Settings(auth: false), _ => null);
        Assert.False(open.Required);
        Assert.True(open.Accepts(null));
    }

    [Fact]
    public void A_missing_keys_file_is_a_clear_error()
    {
        var e = Assert.Throws<InvalidRequestException>(() => ApiKeys.Load(Settings(file: "/nonexistent/keys"), _ => "sk-x"));
        Assert.Contains("/nonexistent/keys", e.Message);
    }

    [Fact]
    public void Generated_keys_are_distinct_and_accepted()
    {
        string a = ApiKeys.Generate();
        string b = ApiKeys.Generate();
        Assert.NotEqual(a, b);
        Assert.StartsWith("sk-actorllm-", a, StringComparison.Ordinal);
        Assert.True(a.Length > 40);
        Assert.True(ApiKeys.Load(Settings(), _ => a).Accepts("Bearer " + a));
    }
}
