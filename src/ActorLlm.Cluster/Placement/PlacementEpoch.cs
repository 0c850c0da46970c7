namespace ActorLlm.Cluster.Placement;

/// <summary>
/// The epoch of a PlacementCoordinator incarnation, which orders route tables across singleton moves
/// (<see cref="Protocol.Messages.PlacementMessages.RouteTable.IsNewerThan"/>): the time the coordinator started, in
/// Unix milliseconds, and within one process always above the last epoch it gave. The singleton moves only after
/// its old host is downed (the failure detector's ~5 s plus the resolver's stable-after, 7 s), so a successor's epoch
/// is higher unless the gateways' clocks are that far apart; keep them synchronised (NTP). Akka.NET does not expose
/// the members' up-numbers, which would order incarnations without clocks.
/// </summary>
public static class PlacementEpoch
{
    private static long s_last;

    /// <summary>The epoch of a coordinator starting at <paramref name="now"/>, after one that got <paramref name="last"/> in this process. Pure.</summary>
    public static long Of(DateTimeOffset now, long last) => Math.Max(now.ToUnixTimeMilliseconds(), last + 1);

    /// <summary>The epoch of a coordinator starting now (remembered, so the next start in this process gets a higher one).</summary>
    public static long Next()
    {
        while (true)
        {
            long last = Interlocked.Read(ref s_last);
            long next = Of(DateTimeOffset.UtcNow, last);
            if (Interlocked.CompareExchange(ref s_last, next, last) == last)
            {
                return next;
            }
        }
    }
}
