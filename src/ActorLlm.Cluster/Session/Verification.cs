using ActorLlm.Inference.Sampling;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cluster.Session;

/// <summary>
/// The decisions of verification, pure (the session carries them out). A job whose route runs through a volunteer
/// device is audited: every <c>audit-every</c> generated tokens, and always for its first, the tokens since the last
/// audit run once more, in one batched pass, on a route of trusted devices only (whose caches keep everything
/// audited before, so each audit feeds only what is new), and at every generated position the primary's report of the
/// next-token distribution (the chosen token's log-probability and the top alternatives) is compared with the audit's
/// (<see cref="LogprobAgreement"/>). Every generated token is checked; <c>audit-every</c> sets how many go into one
/// pass, not how many are skipped. Text is released to the client only once its tokens are audited.
/// </summary>
/// <remarks>
/// <para>Why whole routes and tokens, not one stage's activations: the session holds the tokens, so an audit route
/// needs nothing from the suspect (no buffered activations, no replica with the same unit boundaries), a liar
/// anywhere on the route (or several) is caught by one comparison, and what is compared is what the user gets.</para>
/// <para>Who lied: the audit route is trusted, so on a disagreement the primary route's volunteers are at fault. With
/// one volunteer on it, that one is quarantined. With several the job routes around all of them but none is
/// quarantined (which one lied is not known; see docs/security.md).</para>
/// </remarks>
public static class Verification
{
    /// <summary>Session → local event stream: an audit found <paramref name="Tokens"/> tokens honest.</summary>
    public sealed record TokensAudited(SessionId Session, int Tokens);

    /// <summary>Session → local event stream: an audit caught a route lying; <paramref name="Quarantined"/> are cut off.</summary>
    public sealed record RouteCaught(SessionId Session, DeviceKey[] Suspects, DeviceKey[] Quarantined, string Reason);

    /// <summary>Session → local event stream: the job goes on unaudited (no trusted route covers the model).</summary>
    public sealed record GaveUp(SessionId Session, string Reason);

    /// <summary>The volunteer devices of a route: nothing to verify when empty.</summary>
    public static IReadOnlyList<DeviceKey> Volunteers(IEnumerable<RouteEntry> route) =>
        [.. route.Where(e => e.Device.Volunteer).Select(e => e.Device.Key).Distinct()];

    /// <summary>
    /// The tolerance for a job whose routes (its own and the audit's) ran on devices computing in <paramref name="dtypes"/>:
    /// the tight f32 one when all are f32, else the loose one (bf16 and f16 round log-probabilities by whole tenths).
    /// </summary>
    public static double Tolerance(IEnumerable<DType> dtypes, Hosting.VerificationSettings settings) =>
        dtypes.All(d => d == DType.F32) ? settings.ToleranceF32 : settings.ToleranceReduced;

    /// <summary>Stages an audit route may use: trusted devices only.</summary>
    public static bool MayAudit(RouteEntry entry) => !entry.Device.Volunteer;

    /// <summary>
    /// Whether to send an audit now: some sampled token is not audited yet, and it is the first, or
    /// <paramref name="auditEvery"/> are waiting, or the job is over (its end waits for the audit).
    /// </summary>
    public static bool AuditDue(int sampled, int verified, bool jobOver, int auditEvery) =>
        sampled > verified && (verified == 0 || sampled - verified >= auditEvery || jobOver);

    /// <summary>
    /// What an audit runs. The history is the prompt and every sampled token; row j of the audit chunk (from position
    /// <see cref="AuditFrom"/>) predicts sampled token <c>verified + j</c>. The audit route's caches hold positions
    /// [0, cached): positions [<see cref="PrefillFrom"/>, <see cref="AuditFrom"/>) are filled first.
    /// </summary>
    /// <param name="PrefillFrom">First position to fill before the audit chunk (== AuditFrom: nothing to fill).</param>
    /// <param name="AuditFrom">First position of the audit chunk: the one before the first unaudited token.</param>
    /// <param name="Rows">Tokens this audit checks; the chunk holds <c>Rows + 1</c> tokens.</param>
    public sealed record AuditWindow(int PrefillFrom, int AuditFrom, int Rows)
    {
        /// <summary>Positions the audit route's caches hold once the audit has run.</summary>
        public int CachedAfter => AuditFrom + Rows + 1;
    }

    /// <param name="promptTokens">Prompt tokens (at least 1).</param>
    /// <param name="verified">Sampled tokens audited so far.</param>
    /// <param name="sampled">Sampled tokens so far (more than <paramref name="verified"/>).</param>
    /// <param name="cached">Positions the audit route's caches hold (0 on a new audit route).</param>
    /// <param name="maxRows">Most rows one audit checks (the chunk must fit one message).</param>
    public static AuditWindow Window(int promptTokens, int verified, int sampled, int cached, int maxRows)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(promptTokens, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(sampled, verified);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        int auditFrom = promptTokens - 1 + verified;
        return new AuditWindow(Math.Min(Math.Max(0, cached), auditFrom), auditFrom, Math.Min(sampled - verified, maxRows));
    }

    /// <summary>
    /// The outcome of comparing an audit's rows with the primary's reports of the same tokens: how many agree from the
    /// first on, and at the first disagreement why (null when all agree).
    /// </summary>
    public sealed record Verdict(int Agreed, string? Disagreement)
    {
        public bool Honest => Disagreement is null;
    }

    /// <summary>
    /// Compares row by row; a token the primary reported nothing for (its step carried no log-probabilities) is a
    /// disagreement too: a stage that drops what it was asked to report is not honest.
    /// </summary>
    /// <param name="primary">The primary's reports of the audited tokens, in order.</param>
    /// <param name="audit">The audit's rows for the same tokens.</param>
    /// <param name="greedy">The job samples greedily without penalty: the chosen token must be a most likely one.</param>
    public static Verdict Compare(IReadOnlyList<TokenLogprobs?> primary, IReadOnlyList<TokenLogprobs> audit, bool greedy, double tolerance)
    {
        int n = Math.Min(primary.Count, audit.Count);
        for (int i = 0; i < n; i++)
        {
            string? why = primary[i] is { } p
                ? LogprobAgreement.Disagreement(p, audit[i], greedy, tolerance)
                : "the route reported no log-probabilities for the token";
            if (why is not null)
            {
                return new Verdict(i, why);
            }
        }

        return new Verdict(n, null);
    }

    /// <summary>Whom a disagreement on a route with these volunteers quarantines: the one volunteer, or nobody when several could have lied.</summary>
    public static IReadOnlyList<DeviceKey> Quarantine(IReadOnlyList<DeviceKey> volunteers) => volunteers.Count == 1 ? volunteers : [];
}
