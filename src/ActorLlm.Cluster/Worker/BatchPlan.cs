using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Worker;

/// <summary>One queued step as the batching policy sees it.</summary>
/// <param name="Range">The unit range the step asks for (one executor on this worker, if it serves the range).</param>
/// <param name="Tokens">New tokens the step runs: a prompt chunk's length, 1 for a decode step.</param>
/// <param name="HasSlot">The session already holds a KV cache slot on the executor serving <paramref name="Range"/>.</param>
/// <param name="BehindWaiting">An earlier step of the session on <paramref name="Range"/> is waiting for a slot.</param>
public readonly record struct QueuedStep(SessionId Session, UnitRange Range, int Tokens, bool HasSlot, bool BehindWaiting = false);

/// <summary>Knobs of the batching policy. <see cref="Default"/> is what a worker runs with.</summary>
public sealed record BatchOptions
{
    public static BatchOptions Default { get; } = new();

    /// <summary>
    /// Most new tokens one pass runs, over all its batches; null means no limit. A step that would take the pass
    /// past the budget waits for the next pass (deferred, so it keeps its place), except the pass's first step, so
    /// every pass makes progress. This is the extension point for continuous batching: with a budget, each pass
    /// takes every waiting decode step and fills the rest with prefill chunks, so a long prompt no longer holds the
    /// decoding sessions back for a whole pass. Mixing token counts in one forward pass is the executor's part.
    /// </summary>
    public int? MaxTokensPerPass { get; init; }
}

/// <summary>
/// The batching and admission policy of a stage worker, as a pure function: which queued steps run together now,
/// per range, and what happens to the others. Rules, per range in the order of its first queued step, and within a
/// range in queue order:
/// <list type="number">
/// <item>A step for a range not served here is refused (a replica may serve it).</item>
/// <item>A session appears at most once per range and pass: its later steps (the next prompt chunk, say) are deferred
/// to the next pass, in order, since each continues the cache the one before it writes.</item>
/// <item>A session without a KV cache slot takes one of the range's free slots; with none left, its step waits for a
/// slot (until a session there is released). A step behind one of its session's that waits for a slot waits too,
/// after it: a slot freed meanwhile must not let a later prompt chunk run before the first.</item>
/// <item>A step past <see cref="BatchOptions.MaxTokensPerPass"/> is deferred and takes no slot.</item>
/// </list>
/// Every queued step ends up in exactly one of the pass's buckets.
/// </summary>
public static class BatchPlan
{
    /// <summary>Steps that run together in one forward pass of the executor serving <paramref name="Range"/>.</summary>
    public sealed record Batch<T>(UnitRange Range, IReadOnlyList<T> Steps);

    /// <summary>
    /// One pass: the batches to run now, and the steps that do not run in it. Every list is ordered as the rules are
    /// applied: by range (in the order of each range's first queued step), then in queue order.
    /// </summary>
    /// <param name="Deferred">Queued again for the next pass.</param>
    /// <param name="WaitingForSlot">Held until a KV cache slot of their range frees.</param>
    /// <param name="Refused">For ranges not served here.</param>
    public sealed record Pass<T>(IReadOnlyList<Batch<T>> Batches, IReadOnlyList<T> Deferred, IReadOnlyList<T> WaitingForSlot, IReadOnlyList<T> Refused);

    /// <param name="queue">The steps waiting, oldest first.</param>
    /// <param name="describe">What the policy needs to know of a step.</param>
    /// <param name="freeSlots">Free KV cache slots of each range served here; a range not in it is not served.</param>
    public static Pass<T> Plan<T>(IReadOnlyList<T> queue, Func<T, QueuedStep> describe, IReadOnlyDictionary<UnitRange, int> freeSlots, BatchOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(describe);
        ArgumentNullException.ThrowIfNull(freeSlots);
        int? budget = (options ?? BatchOptions.Default).MaxTokensPerPass;
        var steps = queue.Select(s => (Item: s, Step: describe(s))).ToList();
        var batches = new List<Batch<T>>();
        var deferred = new List<T>();
        var waiting = new List<T>();
        var refused = new List<T>();
        int tokens = 0;
        foreach (var group in steps.GroupBy(s => s.Step.Range))
        {
            if (!freeSlots.TryGetValue(group.Key, out int free))
            {
                refused.AddRange(group.Select(s => s.Item));
                continue;
            }

            var seen = new HashSet<SessionId>();
            var batch = new List<T>();
            foreach (var (item, step) in group)
            {
                if (!seen.Add(step.Session))
                {
                    deferred.Add(item);
                }
                else if (step.BehindWaiting || (!step.HasSlot && free <= 0))
                {
                    waiting.Add(item);
                }
                else if (budget is int max && tokens > 0 && tokens + step.Tokens > max)
                {
                    deferred.Add(item);
                }
                else
                {
                    free -= step.HasSlot ? 0 : 1;
                    tokens += step.Tokens;
                    batch.Add(item);
                }
            }

            if (batch.Count > 0)
            {
                batches.Add(new Batch<T>(group.Key, batch));
            }
        }

        return new Pass<T>(batches, deferred, waiting, refused);
    }
}
