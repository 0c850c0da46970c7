using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Worker;

/// <summary>One queued step as the batching policy sees it.</summary>
/// <param name="Range">The unit range the step asks for (one executor on this worker, if it serves the range).</param>
/// <param name="Tokens">New tokens the step runs: a prompt chunk's length, 1 for a decode step.</param>
/// <param name="HasSlot">The session already holds a KV cache slot on the executor serving <paramref name="Range"/>.</param>
/// <param name="BehindWaiting">An earlier step of the session on <paramref name="Range"/> is waiting for a slot.</param>
/// <param name="Released">The session was released here (its job is over): the step must never run.</param>
public readonly record struct QueuedStep(SessionId Session, UnitRange Range, int Tokens, bool HasSlot, bool BehindWaiting = false, bool Released = false)
{
    /// <summary>A decode step (or a one-token chunk): it goes ahead of prompt chunks, since a session waits on it for its next token.</summary>
    public bool IsDecode => Tokens == 1;
}

/// <summary>Knobs of the batching policy. <see cref="Default"/> has no token budget; a worker runs with its configured one.</summary>
public sealed record BatchOptions
{
    public static BatchOptions Default { get; } = new();

    /// <summary>
    /// Most new tokens one pass runs, over all its batches (<c>actorllm.worker.max-tokens-per-pass</c>); null means no
    /// limit. Decode steps take their share first and prompt chunks fill the rest, so a long prompt does not hold the
    /// decoding sessions back for a whole pass of its own.
    /// </summary>
    public int? MaxTokensPerPass { get; init; }
}

/// <summary>
/// The iteration-level scheduler of a stage worker, as a pure function: which queued steps run together in the next
/// pass, per range, and what happens to the others. The worker calls it once per pass over every step waiting there,
/// so every session with a step waiting joins the next pass it may join (continuous batching).
/// <para>First, each step in queue order (oldest first) is sorted out:</para>
/// <list type="number">
/// <item>A step of a released session is dropped: it never runs, waits or takes a slot.</item>
/// <item>A step for a range not served here is refused (a replica may serve it).</item>
/// <item>A session appears at most once per range and pass: its later steps there (the next prompt chunk, say) are
/// deferred to the next pass, in order, since each continues the cache the one before it writes.</item>
/// <item>A step behind one of its session's that waits for a slot waits too, after it: a slot freed meanwhile must
/// not let a later prompt chunk run before the first.</item>
/// </list>
/// <para>The remaining steps are admitted in this order: the oldest of them, then every decode step
/// (<see cref="QueuedStep.IsDecode"/>), then the prompt chunks, each group oldest first. Admitting a step:</para>
/// <list type="number">
/// <item>A session without a KV cache slot takes one of the range's free slots; with none left, its step waits for a
/// slot (until a session there is released).</item>
/// <item>A step that would take the pass past <see cref="BatchOptions.MaxTokensPerPass"/> is deferred and takes no
/// slot, except the pass's first admitted step, so every pass makes progress.</item>
/// </list>
/// Every queued step ends up in exactly one of the pass's buckets. No session starves: the oldest queued step always
/// leaves the queue (it runs, or it is dropped, refused or waits for a slot), and the worker queues deferred steps
/// again ahead of newer ones, so a step is decided within as many passes as there were steps ahead of it when it was
/// queued, plus one (the property tests simulate this).
/// </summary>
public static class BatchPlan
{
    /// <summary>Steps that run together in one forward pass of the executor serving <paramref name="Range"/>.</summary>
    public sealed record Batch<T>(UnitRange Range, IReadOnlyList<T> Steps);

    /// <summary>
    /// One pass: the batches to run now (by range, in the order of each range's first queued step; each in queue
    /// order), and the steps that do not run in it (each list in queue order).
    /// </summary>
    /// <param name="Deferred">Queued again for the next pass, ahead of newer steps.</param>
    /// <param name="WaitingForSlot">Held until a KV cache slot of their range frees.</param>
    /// <param name="Refused">For ranges not served here.</param>
    /// <param name="Dropped">Of released sessions: nobody wants their answers.</param>
    public sealed record Pass<T>(IReadOnlyList<Batch<T>> Batches, IReadOnlyList<T> Deferred, IReadOnlyList<T> WaitingForSlot, IReadOnlyList<T> Refused, IReadOnlyList<T> Dropped);

    private enum Fate
    {
        Candidate,
        Batched,
        Deferred,
        WaitingForSlot,
        Refused,
        Dropped,
    }

    /// <param name="queue">The steps waiting, oldest first.</param>
    /// <param name="describe">What the policy needs to know of a step.</param>
    /// <param name="freeSlots">Free KV cache slots of each range served here; a range not in it is not served.</param>
    public static Pass<T> Plan<T>(IReadOnlyList<T> queue, Func<T, QueuedStep> describe, IReadOnlyDictionary<UnitRange, int> freeSlots, BatchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(describe);
        ArgumentNullException.ThrowIfNull(freeSlots);
        int? budget = (options ?? BatchOptions.Default).MaxTokensPerPass;
        var steps = queue.Select(describe).ToArray();
        var fates = new Fate[steps.Length];
        var seen = new HashSet<(SessionId, UnitRange)>();
        for (int i = 0; i < steps.Length; i++)
        {
            var s = steps[i];
            fates[i] = s.Released ? Fate.Dropped
                : !freeSlots.ContainsKey(s.Range) ? Fate.Refused
                : !seen.Add((s.Session, s.Range)) ? Fate.Deferred
                : s.BehindWaiting ? Fate.WaitingForSlot
                : Fate.Candidate;
        }

        var candidates = Enumerable.Range(0, steps.Length).Where(i => fates[i] == Fate.Candidate).ToList();
        var rest = candidates.Skip(1);
        var free = new Dictionary<UnitRange, int>(freeSlots);
        int tokens = 0;
        bool admitted = false;
        foreach (int i in candidates.Take(1).Concat(rest.Where(i => steps[i].IsDecode)).Concat(rest.Where(i => !steps[i].IsDecode)))
        {
            var s = steps[i];
            if (!s.HasSlot && free[s.Range] <= 0)
            {
                fates[i] = Fate.WaitingForSlot;
            }
            else if (budget is int max && admitted && tokens + s.Tokens > max)
            {
                fates[i] = Fate.Deferred;
            }
            else
            {
                free[s.Range] -= s.HasSlot ? 0 : 1;
                tokens += s.Tokens;
                admitted = true;
                fates[i] = Fate.Batched;
            }
        }

        List<T> Bucket(Fate fate) => [.. Enumerable.Range(0, steps.Length).Where(i => fates[i] == fate).Select(i => queue[i])];
        var batches = Enumerable.Range(0, steps.Length)
            .Where(i => fates[i] == Fate.Batched)
            .GroupBy(i => steps[i].Range)
            .OrderBy(g => Array.FindIndex(steps, s => s.Range == g.Key))
            .Select(g => new Batch<T>(g.Key, [.. g.Select(i => queue[i])]))
            .ToList();
        return new Pass<T>(batches, Bucket(Fate.Deferred), Bucket(Fate.WaitingForSlot), Bucket(Fate.Refused), Bucket(Fate.Dropped));
    }
}
