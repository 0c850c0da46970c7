using ActorLlm.Cluster.Security;
using Xunit;

namespace ActorLlm.Cluster.Tests.Security;

/// <summary>The deny list: by name and by serial, saved and loaded, merged concurrently, watched on disk.</summary>
public sealed class DenyListSecurityTests : IDisposable
{
    private static readonly DateTimeOffset s_now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static PoolIdentity Node(string name, string serial) => new(name, TrustLevel.Volunteer, ["worker"], "p1", serial, s_now.AddDays(30));

    [Fact]
    public void A_name_revokes_every_certificate_of_it_and_a_serial_only_its_own()
    {
        var deny = new DenyList();
        deny.Merge([new Revocation("bad", null, s_now), new Revocation("w2", "0A0B", s_now)]);
        Assert.True(deny.IsRevoked(Node("bad", "01")));
        Assert.True(deny.IsRevoked(Node("bad", "02")));
        Assert.True(deny.IsRevoked(Node("w2", "0a0b")));
        Assert.False(deny.IsRevoked(Node("w2", "0C0D")));
        Assert.False(deny.IsRevoked(Node("good", "01")));
    }

    [Fact]
    public void It_saves_and_loads_and_a_merge_raises_changed_only_with_what_is_new()
    {
        var deny = new DenyList();
        var events = new List<IReadOnlyList<Revocation>>();
        deny.Changed += events.Add;
        deny.Merge([new Revocation("a", null, s_now), new Revocation("b", "FF", s_now)]);
        deny.Merge([new Revocation("a", null, s_now.AddDays(1))]);
        deny.Save(_dir["revoked.json"]);

        var loaded = DenyList.Load(_dir["revoked.json"]);
        Assert.Equal(deny.Entries, loaded.Entries);
        Assert.Single(events);
        Assert.Equal(2, events[0].Count);
        Assert.Empty(DenyList.Load(_dir["missing.json"]).Entries);

        File.WriteAllText(_dir["bad.json"], "{\"revoked\": [{\"name\": \"A,B\", \"serial\": null, \"time\": \"2026-12-01T00:00:00Z\"}]}");
        Assert.Contains("not a deny list", Assert.Throws<IOException>(() => DenyList.Load(_dir["bad.json"])).Message);
        File.WriteAllText(_dir["bad.json"], "{");
        Assert.Throws<IOException>(() => DenyList.Load(_dir["bad.json"]));
    }

    [Fact]
    public void Concurrent_merges_and_reads_lose_nothing_and_raise_each_entry_once()
    {
        var deny = new DenyList();
        int raised = 0;
        deny.Changed += added => Interlocked.Add(ref raised, added.Count);
        const int writers = 8, each = 200;
        Parallel.For(0, writers * 2, w =>
        {
            for (int i = 0; i < each; i++)
            {
                // Two writers per range: every entry is merged twice, concurrently.
                deny.Merge([new Revocation($"n{w % writers}-{i}", null, s_now)]);
                _ = deny.IsRevoked(Node($"n{(w + 1) % writers}-{i}", "00"));
            }
        });
        Assert.Equal(writers * each, deny.Count);
        Assert.Equal(writers * each, raised);
        Assert.Equal(writers * each, deny.Entries.Select(e => e.Name).Distinct().Count());
    }

    [Fact]
    public async Task A_watched_file_rewritten_atomically_is_merged_and_announced()
    {
        var deny = new DenyList();
        var changed = new TaskCompletionSource<IReadOnlyList<Revocation>>(TaskCreationOptions.RunContinuationsAsynchronously);
        deny.Changed += added => changed.TrySetResult(added);
        using var watch = deny.Watch(_dir["revoked.json"]);
        Assert.Equal(0, deny.Count);

        var written = new DenyList();
        written.Merge([new Revocation("w9", null, s_now)]);
        written.Save(_dir["revoked.json"]);

        var added = await changed.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("w9", Assert.Single(added).Name);
        Assert.True(deny.IsRevoked(Node("w9", "01")));
    }
}
