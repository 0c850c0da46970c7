using System.Text;
using System.Text.RegularExpressions;
using ActorLlm.Gateway.Dashboard;
using Xunit;

namespace ActorLlm.Gateway.Tests;

/// <summary>The page the gateway serves at / is embedded, complete, and loads nothing from elsewhere.</summary>
public sealed partial class DashboardAssetsTests
{
    private static readonly IReadOnlyDictionary<string, DashboardApi.Asset> s_assets = DashboardApi.LoadAssets();

    [Fact]
    public void The_page_its_script_and_its_styles_are_embedded_with_their_types()
    {
        Assert.Equal("text/html; charset=utf-8", s_assets["index.html"].ContentType);
        Assert.Equal("text/javascript; charset=utf-8", s_assets["dashboard.js"].ContentType);
        Assert.Equal("text/css; charset=utf-8", s_assets["dashboard.css"].ContentType);
        Assert.All(s_assets.Values, a => Assert.Matches("^\"[0-9a-f]{16}\"$", a.ETag));
    }

    [Fact]
    public void Every_file_the_page_references_is_one_the_gateway_serves()
    {
        string html = Encoding.UTF8.GetString(s_assets["index.html"].Bytes);
        var refs = Reference().Matches(html).Select(m => m.Groups["url"].Value).Where(u => u.StartsWith("/dashboard/", StringComparison.Ordinal)).ToList();
        Assert.Contains("/dashboard/dashboard.js", refs);
        Assert.Contains("/dashboard/dashboard.css", refs);
        Assert.All(refs, r => Assert.True(s_assets.ContainsKey(r["/dashboard/".Length..]), $"{r} is not embedded"));
    }

    [Fact]
    public void Nothing_is_loaded_from_another_host()
    {
        foreach (var (name, asset) in s_assets)
        {
            string text = Encoding.UTF8.GetString(asset.Bytes);
            Assert.False(ExternalUrl().IsMatch(text), $"{name} refers to another host: {ExternalUrl().Match(text).Value}");
        }
    }

    [Fact]
    public void The_script_listens_to_the_feeds_events_and_never_writes_HTML_from_it()
    {
        string js = Encoding.UTF8.GetString(s_assets["dashboard.js"].Bytes);
        Assert.Contains("new EventSource(\"/api/events\")", js);
        foreach (string e in new[] { "hello", "status", "unavailable", "pool-event" })
        {
            Assert.Contains($"addEventListener(\"{e}\"", js);
        }

        Assert.DoesNotContain("innerHTML", js);
        Assert.DoesNotContain("eval(", js);
    }

    [GeneratedRegex("""(?:href|src)="(?<url>[^"]+)""")]
    private static partial Regex Reference();

    [GeneratedRegex(@"(?:https?:)?//(?!/)[a-z0-9.-]+\.[a-z]{2,}[/""']", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalUrl();
}
