using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Session;
using ActorLlm.Cluster.Session.Internal;
using ActorLlm.Inference.Tokenization;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace ActorLlm.Cluster.Tests.Session;

/// <summary>The pure decisions of verification (<see cref="Verification"/>) and the job's rewind it relies on.</summary>
public class VerificationTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(500);

    private static TokenLogprobs Report(float chosen, params (int Id, float Lp)[] top) =>
        new(chosen, [.. top.Select(t => t.Id)], [.. top.Select(t => t.Lp)]);

    [Fact]
    public void The_first_token_is_audited_at_once_then_every_n_and_whatever_is_left_at_the_end()
    {
        Assert.False(Verification.AuditDue(sampled: 0, verified: 0, jobOver: false, auditEvery: 8));
        Assert.True(Verification.AuditDue(1, 0, false, 8));
        Assert.False(Verification.AuditDue(8, 1, false, 8));
        Assert.True(Verification.AuditDue(9, 1, false, 8));
        Assert.True(Verification.AuditDue(3, 1, jobOver: true, 8));
        Assert.False(Verification.AuditDue(3, 3, jobOver: true, 8));
    }

    [Fact]
    public void The_first_audit_fills_the_prompt_and_checks_from_its_last_token()
    {
        // Prompt of 5 tokens, 1 sampled: positions 0..3 are filled, the audit chunk is [x4, y0] and row 0 predicts y0.
        var w = Verification.Window(promptTokens: 5, verified: 0, sampled: 1, cached: 0, maxRows: 255);
        Assert.Equal(new Verification.AuditWindow(0, 4, 1), w);
        Assert.Equal(6, w.CachedAfter);

        // The next audit starts where the caches end, less one (the last audited token's position is run again).
        var next = Verification.Window(5, verified: 1, sampled: 9, cached: w.CachedAfter, maxRows: 255);
        Assert.Equal(new Verification.AuditWindow(5, 5, 8), next);
    }

    [Fact]
    public void Audit_windows_stay_inside_the_history_and_never_refill_what_the_caches_hold() =>
        Prop.ForAll(
            (from prompt in Gen.Choose(1, 300)
             from verified in Gen.Choose(0, 300)
             from more in Gen.Choose(1, 300)
             from maxRows in Gen.Choose(1, 64)
             select (prompt, verified, more, maxRows)).ToArbitrary(),
            t =>
            {
                var (prompt, verified, more, maxRows) = t;
                int sampled = verified + more;
                int cached = prompt + verified;  // what an honest audit left (or less: a new route has 0)
                foreach (int c in new[] { 0, cached })
                {
                    var w = Verification.Window(prompt, verified, sampled, c, maxRows);
                    Assert.InRange(w.Rows, 1, Math.Min(more, maxRows));
                    Assert.Equal(prompt - 1 + verified, w.AuditFrom);
                    Assert.InRange(w.PrefillFrom, 0, w.AuditFrom);
                    Assert.True(w.PrefillFrom >= Math.Min(c, w.AuditFrom));
                    Assert.True(w.CachedAfter <= prompt + sampled, "the audit chunk reaches past the history");
                }
            }).Check(s_config);

    [Fact]
    public void Identical_reports_agree_and_a_shift_beyond_the_tolerance_is_caught_at_its_row()
    {
        var honest = Report(-0.1f, (3, -0.1f), (7, -2.5f));
        var off = Report(-0.1f, (3, -0.1f), (7, -3.5f));
        var verdict = Verification.Compare([honest, honest, off, honest], [honest, honest, honest, honest], greedy: true, tolerance: 0.5);
        Assert.Equal(2, verdict.Agreed);
        Assert.Contains("differ by 1", verdict.Disagreement);

        Assert.True(Verification.Compare([honest, honest], [honest, honest], true, 0.5).Honest);
        Assert.True(Verification.Compare([off], [honest], true, 1.5).Honest);
    }

    [Fact]
    public void A_greedy_job_whose_route_chose_a_token_the_audit_finds_unlikely_is_caught()
    {
        // The route chose token 7 and reported (truthfully) what the audit says of it: only the choice is wrong.
        var primary = Report(-2.5f, (3, -0.1f), (7, -2.5f));
        var audit = Report(-2.5f, (3, -0.1f), (7, -2.5f));
        var greedy = Verification.Compare([primary], [audit], greedy: true, tolerance: 0.5);
        Assert.False(greedy.Honest);
        Assert.Contains("below the most likely", greedy.Disagreement);

        // Sampling with temperature may pick it.
        Assert.True(Verification.Compare([primary], [audit], greedy: false, tolerance: 0.5).Honest);
    }

    [Fact]
    public void A_token_the_route_reported_nothing_for_is_a_disagreement()
    {
        var verdict = Verification.Compare([null], [Report(-0.1f, (3, -0.1f))], true, 0.5);
        Assert.Equal(0, verdict.Agreed);
        Assert.False(verdict.Honest);
    }

    [Fact]
    public void Only_a_lone_volunteer_is_quarantined_and_audit_routes_use_trusted_devices_only()
    {
        var v1 = FailoverPolicyTests.Device("m1", "cpu");
        var v2 = FailoverPolicyTests.Device("m2", "cpu");
        Assert.Equal([v1], Verification.Quarantine([v1]));
        Assert.Empty(Verification.Quarantine([v1, v2]));
        Assert.Empty(Verification.Quarantine([]));

        RouteEntry Entry(DeviceKey key, DeviceTrust trust) =>
            new(ActorRefs.Nobody, new DeviceDescriptor(key.Node, key.Device, key.Node.Value, 1 << 30, 100, DType.F32, Trust: trust), new UnitRange(0, 7), 0);
        var route = new[] { Entry(v1, DeviceTrust.Volunteer), Entry(FailoverPolicyTests.Device("m0", "cpu"), DeviceTrust.Trusted), Entry(v2, DeviceTrust.Volunteer) };
        Assert.Equal([v1, v2], Verification.Volunteers(route));
        Assert.Equal([false, true, false], route.Select(Verification.MayAudit));
    }

    [Fact]
    public void A_rewound_job_is_the_job_that_took_only_the_kept_tokens()
    {
        var tokenizer = TextTokenizer.Load(TestModels.Stories260K);
        var settings = new SessionSettings(TimeSpan.FromSeconds(20), 3, 256, TimeSpan.FromSeconds(60), false, VerificationSettings.Off with { Enabled = true });
        var ctx = new SessionContext(tokenizer, settings, 64, 5, 512, 6 << 20, ActorRefs.Nobody);
        GenerationJob Job(SessionId id) => GenerationJob.Create(ctx, id, new JobMessages.StartGeneration(
            id, "Once upon a time"u8.ToArray(), new WireGenerationOptions(20, WireSampling.Greedy with { Logprobs = 2 }, [], false), ActorRefs.Nobody));

        var id = new SessionId("rewind");
        var rewound = Job(id);
        var straight = Job(id);
        int[] tokens = [.. tokenizer.Encode(" there was a little girl named Lily who loved", addSpecialTokens: false)];
        var route = new RouteSteps(1, [new RouteHop(ActorRefs.Nobody, new UnitRange(0, 7))], [], ActorRefs.Nobody);
        List<JobMessages.TextDelta> Feed(GenerationJob job, IEnumerable<int> ids)
        {
            var deltas = new List<JobMessages.TextDelta>();
            foreach (int t in ids)
            {
                var answer = job.Accept(new StageMessages.TokenSampled(id, 1, t, job.PromptTokens + job.Sampled, [], false, new TokenLogprobs(-0.5f, [t, 1, 2, 3], [-0.5f, -1, -2, -3])), route);
                deltas.AddRange(answer switch
                {
                    JobAnswer.Continue c => c.Text,
                    JobAnswer.Completed c => c.Text,
                    _ => [],
                });
            }

            return deltas;
        }

        var kept = Feed(rewound, tokens[..4]);
        _ = Feed(rewound, [5, 6, 7]);  // the wrong ones
        rewound.Rewind(4);
        var afterRewind = Feed(rewound, tokens[4..]);
        var all = Feed(straight, tokens);

        Assert.Equal(4 + tokens.Length - 4, rewound.Sampled);
        Assert.Equal(straight.History, rewound.History);
        static string Show(JobMessages.TextDelta d) => $"{d.Sequence}:{d.Text}:{string.Join(",", (d.Tokens ?? []).Select(t => t.Id))}";
        Assert.Equal([.. all.Select(Show)], [.. kept.Concat(afterRewind).Select(Show)]);
        Assert.Equal([.. all.Select(d => d.Sequence)], Enumerable.Range(0, all.Count));

        // The client asked for 2 alternatives; the steps ask for verification's 8, and the client gets its 2.
        Assert.All(all.SelectMany(d => d.Tokens ?? []), t => Assert.Equal(2, t.Logprobs!.TopIds.Length));
    }
}
