using Akka.Actor;

namespace ActorLlm.Cluster.Node;

/// <summary>What a member does about a split once reachability has been stable for a while.</summary>
public enum DowningDecision
{
    /// <summary>Nobody is unreachable.</summary>
    Nothing,

    /// <summary>This side stays; the unreachable members are downed.</summary>
    DownUnreachable,

    /// <summary>The other side stays; this side downs itself (its processes exit and may be restarted).</summary>
    DownReachable,
}

/// <summary>A member as the downing decision counts it.</summary>
public sealed record DowningMember(Address Address, bool Gateway);

/// <summary>
/// The pool's split-brain rule, keep the gateway majority: the side with more gateways stays; on a tie, the side with
/// more members; on a tie again, the side holding the lowest address. Every member that has joined counts, Joining and
/// WeaklyUp ones too (Akka's keep-majority counts only Up members, so during churn, when replacements cannot become Up
/// because dead members block convergence, the dead outnumber the living and the living down themselves: issue 12's
/// churn test measured exactly that).
/// </summary>
/// <remarks>
/// Why gateways first: a worker is useless without a gateway (the gateway holds the placement, the sessions and the
/// API), so a side of workers cut off from every gateway gains nothing by staying up, while a gateway that loses its
/// workers keeps serving as soon as they (or others) rejoin it. With one gateway its side always stays, however many
/// workers die; with two, the crash of either leaves the survivor with every worker (the tie on gateways is broken by
/// the member count). An even split with as many gateways and members on each side keeps the side with the lowest
/// address, as Akka's keep-majority does.
/// </remarks>
public static class GatewayMajority
{
    public static DowningDecision Decide(IReadOnlyCollection<DowningMember> reachable, IReadOnlyCollection<DowningMember> unreachable)
    {
        if (unreachable.Count == 0)
        {
            return DowningDecision.Nothing;
        }

        int ours = reachable.Count(m => m.Gateway);
        int theirs = unreachable.Count(m => m.Gateway);
        if (ours != theirs)
        {
            return Keep(ours > theirs);
        }

        if (reachable.Count != unreachable.Count)
        {
            return Keep(reachable.Count > unreachable.Count);
        }

        var lowest = reachable.Concat(unreachable).Select(m => m.Address).Min(Akka.Cluster.Member.AddressOrdering);
        return Keep(reachable.Any(m => m.Address == lowest));
    }

    /// <summary>
    /// How long reachability must have been stable before a member of the side that goes downs itself: stable-after,
    /// or <paramref name="lonelyAfter"/> (longer) on a side with no gateway. Such a side can do no harm by waiting (it
    /// runs no singleton, no session and no API: only gateways do), and what cut it off is most often its only gateway
    /// frozen for a while (a laptop's lid, a VM paused, a long GC), after which everyone is reachable again and the
    /// pool goes on; when the gateways are really gone, the workers leave after
    /// <paramref name="lonelyAfter"/> and, restarted, join the gateway's next incarnation.
    /// </summary>
    public static TimeSpan WaitBeforeGoing(IReadOnlyCollection<DowningMember> reachable, TimeSpan stableAfter, TimeSpan lonelyAfter) =>
        reachable.Any(m => m.Gateway) ? stableAfter : TimeSpan.FromTicks(Math.Max(stableAfter.Ticks, lonelyAfter.Ticks));

    private static DowningDecision Keep(bool reachableSide) => reachableSide ? DowningDecision.DownUnreachable : DowningDecision.DownReachable;
}
