using ActorLlm.Cluster.Worker.Internal;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Cluster.Tests.Worker;

/// <summary>A worker remembers the sessions released on it for a while, then forgets them.</summary>
public sealed class ReleasedSessionsTests
{
    private static readonly DateTime s_start = new(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void A_released_session_is_remembered_for_the_memory_and_forgotten_after_it_counted_from_its_latest_release()
    {
        var released = new ReleasedSessions(TimeSpan.FromSeconds(60));
        SessionId a = new("a"), b = new("b"), c = new("c");
        released.Add(a, s_start);
        released.Add(b, s_start.AddSeconds(10));
        released.Add(a, s_start.AddSeconds(30));
        Assert.True(released.Contains(a) && released.Contains(b));
        Assert.False(released.Contains(c));

        // At 70 s, b (released at 10 s) is forgotten; a's latest release (30 s) keeps it.
        released.Add(c, s_start.AddSeconds(70.5));
        Assert.Equal((true, false, true), (released.Contains(a), released.Contains(b), released.Contains(c)));
        Assert.Equal(2, released.Count);

        released.Add(c, s_start.AddSeconds(91));
        Assert.False(released.Contains(a));
        Assert.Equal(1, released.Count);
    }
}
