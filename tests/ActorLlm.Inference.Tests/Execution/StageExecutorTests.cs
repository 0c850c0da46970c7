using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using Xunit;

namespace ActorLlm.Inference.Tests.Execution;

public sealed class StageExecutorTests : IDisposable
{
    private static readonly int[] s_prompt = [1, 403, 407, 261, 378, 432, 383, 286, 261, 400, 428];
    private readonly HfCheckpoint _model = HfCheckpoint.Open(RepoPaths.Stories260K);

    private int Layers => _model.Config.NumLayers;

    private StageExecutor Load(int start, int end, KvCacheOptions? cache = null) =>
        StageExecutor.Load(_model, new UnitRange(start, end), ComputeTarget.Cpu, cache);

    private static float[][] Logits(StageExecutor stage, SessionId session, int start, int[] ids)
    {
        using var output = stage.Forward([new StageInput(session, start, ids, AllLogits: true)])[0];
        return TensorAssert.Rows(output.Logits!);
    }

    [Fact]
    public void Three_stages_chained_by_hand_give_the_logits_of_one()
    {
        using var whole = Load(0, Layers + 2);
        var expected = Logits(whole, SessionId.New(), 0, s_prompt);

        // [begin, layer 0, layer 1] [layer 2, layer 3] [layer 4, end]
        using var a = Load(0, 3);
        using var b = Load(3, 5);
        using var c = Load(5, Layers + 2);
        var session = SessionId.New();
        using var ha = a.Forward([new StageInput(session, 0, s_prompt)])[0];
        using var hb = b.Forward([new StageInput(session, 0, s_prompt, ha.Hidden)])[0];
        using var logits = c.Forward([new StageInput(session, 0, s_prompt, hb.Hidden, AllLogits: true)])[0];

        TensorAssert.Close(expected, TensorAssert.Rows(logits.Logits!), 1e-5, "chained logits");
    }

    [Fact]
    public void Incremental_decode_with_the_cache_equals_a_full_recompute()
    {
        using var stage = Load(0, Layers + 2);
        var cached = SessionId.New();
        var rows = new List<float[]>(Logits(stage, cached, 0, s_prompt[..4]));
        for (int i = 4; i < s_prompt.Length; i++)
        {
            rows.AddRange(Logits(stage, cached, i, [s_prompt[i]]));
        }

        // One token at a time multiplies vectors where the full pass multiplies matrices: float32 sums in a
        // different order, so logits of magnitude ~10 agree to ~1e-5, not bit for bit.
        var full = Logits(stage, SessionId.New(), 0, s_prompt);
        TensorAssert.Close(full, rows.ToArray(), 1e-4, "incremental vs full");
        Assert.Equal(full.Select(ArgMax), rows.Select(ArgMax));
    }

    private static int ArgMax(float[] row) => Array.IndexOf(row, row.Max());

    [Fact]
    public void A_batch_of_sessions_at_different_positions_equals_each_run_alone()
    {
        using var stage = Load(0, Layers + 2);
        var sessions = new[] { SessionId.New(), SessionId.New(), SessionId.New() };
        int[] prefixLengths = [3, 7, 5];

        // Prefill each session with its own prefix length, then decode one token for all three in one pass.
        for (int s = 0; s < sessions.Length; s++)
        {
            stage.Forward([new StageInput(sessions[s], 0, s_prompt[..prefixLengths[s]])])[0].Dispose();
        }

        var batch = stage.Forward(sessions.Select((s, i) => new StageInput(s, prefixLengths[i], [s_prompt[prefixLengths[i]]])).ToArray());
        for (int s = 0; s < sessions.Length; s++)
        {
            var alone = Logits(stage, SessionId.New(), 0, s_prompt[..(prefixLengths[s] + 1)]);
            TensorAssert.Close([alone[^1]], TensorAssert.Rows(batch[s].Logits!), 1e-4, $"session {s} batched vs alone");
            batch[s].Dispose();
        }
    }

    [Fact]
    public void A_replay_from_an_earlier_position_overwrites_the_cache()
    {
        using var stage = Load(0, Layers + 2);
        var session = SessionId.New();
        Logits(stage, session, 0, [1, 50, 60, 70]);
        var replayed = Logits(stage, session, 2, s_prompt[2..5]);
        Assert.Equal(5, stage.Length(session));

        var fresh = Logits(stage, SessionId.New(), 0, [1, 50, .. s_prompt[2..5]]);
        TensorAssert.Close(fresh[2..], replayed, 1e-4, "replay vs fresh");
    }

    [Fact]
    public void Released_sessions_free_their_slot_for_others()
    {
        using var stage = Load(0, Layers + 2, new KvCacheOptions(MaxSessions: 2, MaxContext: 64));
        var a = SessionId.New();
        var b = SessionId.New();
        Logits(stage, a, 0, [1, 2]);
        Logits(stage, b, 0, [1, 2]);
        var full = Assert.Throws<InvalidRequestException>(() => Logits(stage, SessionId.New(), 0, [1]));
        Assert.Contains("full", full.Message);

        Assert.True(stage.Release(a));
        Assert.False(stage.Release(a));
        Assert.Equal(0, stage.Length(a));
        Logits(stage, SessionId.New(), 0, [1]);
    }

    [Fact]
    public void Stage_without_the_end_returns_hidden_states_and_without_the_begin_requires_them()
    {
        using var middle = Load(2, 4);
        Assert.False(middle.HasBegin);
        Assert.False(middle.HasEnd);
        var error = Assert.Throws<InvalidRequestException>(() => middle.Forward([new StageInput(SessionId.New(), 0, [1, 2])]));
        Assert.Contains("hidden states", error.Message);
    }

    public void Dispose() => _model.Dispose();
}
