using ActorLlm.Cluster.Hosting;
using ActorLlm.Cluster.Session;
using ActorLlm.Cluster.Worker;
using ActorLlm.Inference;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Cluster.Tests.Hosting;

/// <summary>Verification's and fault injection's settings: defaults, refusals, and the dtype-aware tolerance.</summary>
public sealed class VerificationConfigTests
{
    private static ActorLlmSettings With(params (string Key, string Value)[] set) =>
        ActorLlmSettings.From(ActorLlmConfig.Build(null, set.ToDictionary(s => s.Key, s => s.Value), _ => null));

    [Fact]
    public void Verification_is_off_and_workers_are_honest_by_default()
    {
        var s = With();
        Assert.Equal(VerificationSettings.Off, s.Session.Verify);
        Assert.False(s.Session.Verify.Enabled);
        Assert.Equal(LieSettings.Honest with { RelativeSize = 1, Fraction = 1 }, s.Worker.Lie);
    }

    [Fact]
    public void A_lying_worker_is_refused_without_the_fault_injection_switch_and_taken_with_it()
    {
        var e = Assert.Throws<InvalidRequestException>(() => With(("actorllm.worker.lie.mode", "zeros")));
        Assert.Contains("actorllm.testing.fault-injection = on", e.Message);

        var s = With(("actorllm.worker.lie.mode", "other-session"), ("actorllm.worker.lie.fraction", "0.2"), ("actorllm.testing.fault-injection", "on"));
        Assert.Equal(new LieSettings(LieMode.OtherSession, 1, 0.2, 0), s.Worker.Lie);

        Assert.Contains("must be none, perturb", Assert.Throws<InvalidRequestException>(() => With(("actorllm.worker.lie.mode", "fib"), ("actorllm.testing.fault-injection", "on"))).Message);
        Assert.Contains("fraction must be in [0, 1]", Assert.Throws<InvalidRequestException>(() => With(("actorllm.worker.lie.mode", "zeros"), ("actorllm.worker.lie.fraction", "2"), ("actorllm.testing.fault-injection", "on"))).Message);
    }

    [Theory]
    [InlineData("actorllm.verification.audit-every", "0")]
    [InlineData("actorllm.verification.audit-every", "-1")]
    [InlineData("actorllm.verification.top-logprobs", "21")]
    [InlineData("actorllm.verification.tolerance.f32", "0")]
    [InlineData("actorllm.verification.tolerance.reduced", "1e-4")]
    public void Bad_verification_settings_are_refused(string key, string value) =>
        Assert.Contains("actorllm.verification", Assert.Throws<InvalidRequestException>(() => With((key, value))).Message);

    [Fact]
    public void Audit_every_may_exceed_the_prefill_chunk_an_audit_then_checks_a_chunk_at_a_time()
    {
        // The failover tests run gateways with prefill-chunk = 4: the default audit-every (8) must not stop them.
        var s = With(("actorllm.session.prefill-chunk", "4"));
        Assert.Equal(8, s.Session.Verify.AuditEvery);
        Assert.Equal(new Verification.AuditWindow(0, 4, 3), Verification.Window(5, 0, 8, 0, maxRows: 4 - 1));
    }

    [Fact]
    public void The_tight_tolerance_holds_only_when_every_device_computes_in_f32()
    {
        var v = VerificationSettings.Off;
        Assert.Equal(v.ToleranceF32, Verification.Tolerance([DType.F32, DType.F32], v));
        Assert.Equal(v.ToleranceReduced, Verification.Tolerance([DType.F32, DType.BF16], v));
        Assert.Equal(v.ToleranceReduced, Verification.Tolerance([DType.F16], v));
    }
}
