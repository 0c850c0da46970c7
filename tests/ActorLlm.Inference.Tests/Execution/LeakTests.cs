using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Inference.Sampling;
using ActorLlm.Protocol;
using TorchSharp;
using Xunit;

namespace ActorLlm.Inference.Tests.Execution;

/// <summary>Thousands of decode steps must not grow the number of live tensors (counted on this thread).</summary>
public class LeakTests
{
    [Theory]
    [InlineData(DecodePath.Eager)]
    [InlineData(DecodePath.Rows)]
    public void Decode_steps_keep_the_live_tensor_count_flat(DecodePath path)
    {
        using var model = HfCheckpoint.Open(RepoPaths.Stories260K);
        using var stage = StageExecutor.Load(model, UnitRange.Whole(model.Config.NumLayers), ComputeTarget.Cpu, new KvCacheOptions(4, 512));
        stage.DecodePath = path;
        var sampling = new SamplingParams { Temperature = 0.8f, Seed = 1 };

        long Run(int steps)
        {
            int done = 0;
            while (done < steps)
            {
                var session = SessionId.New();
                int token = 1, position = 0;
                for (; position < 500 && done < steps; position++, done++)
                {
                    using var output = stage.Forward([new StageInput(session, position, [token])])[0];
                    token = Sampler.Sample(output.Logits!, sampling, [token], position);
                }

                stage.Release(session);
            }

            return DisposeScopeManager.Statistics.TensorStatistics.ThreadTotalLiveCount;
        }

        long afterWarmup = Run(100);
        long afterMany = Run(3000);
        Assert.Equal(afterWarmup, afterMany);
    }
}
