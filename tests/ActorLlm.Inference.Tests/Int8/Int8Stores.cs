using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Int8;

/// <summary>What the int8 tests share: stores, the dense model an int8 store stands for, and logits.</summary>
internal static class Int8Stores
{
    /// <summary>
    /// A Hugging Face directory of the model at <paramref name="hf"/> whose projection weights are replaced by their
    /// dequantized int8 values (q x scale, f32) and every other tensor is the source's, in f32: the dense model an int8
    /// store of <paramref name="hf"/> is meant to compute.
    /// </summary>
    public static string WriteDequantized(string hf, string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.EnumerateFiles(hf).Where(f => Path.GetExtension(f) == ".json" || Path.GetFileName(f) == "tokenizer.model"))
        {
            if (Path.GetFileName(f) != HfCheckpoint.IndexFile)
            {
                File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            }
        }

        using var source = HfCheckpoint.Open(hf);
        var quantized = Enumerable.Range(0, source.Config.UnitCount).SelectMany(u => UnitTensors.QuantizedWeights(source.Config, u)).ToHashSet();
        var held = new List<Tensor>();
        try
        {
            var pending = new List<PendingTensor>();
            foreach (string name in source.TensorNames.Order(StringComparer.Ordinal))
            {
                using var t = source.Load(name);
                Tensor dense;
                if (quantized.Contains(name))
                {
                    var (q, s) = Int8Quantization.Quantize(t);
                    using (q)
                    using (s)
                    {
                        dense = Int8Quantization.Dequantize(q, s);
                    }
                }
                else
                {
                    dense = t.is_floating_point() ? t.to(ScalarType.Float32).contiguous() : t.contiguous();
                    if (ReferenceEquals(dense, t))
                    {
                        dense = t.clone();
                    }
                }

                held.Add(dense);
                pending.Add(PendingTensor.FromTensor(name, dense));
            }

            SafetensorsWriter.WriteFile(Path.Combine(dir, HfCheckpoint.SingleFile), pending);
        }
        finally
        {
            held.ForEach(t => t.Dispose());
        }

        return dir;
    }

    /// <summary>Float32 logits of every position of <paramref name="ids"/> (whole model, one CPU stage).</summary>
    public static float[][] Logits(IWeightSource source, int[] ids, ComputeTarget? target = null)
    {
        using var stage = StageExecutor.Load(source, UnitRange.Whole(source.Config.NumLayers), target ?? ComputeTarget.Cpu);
        using var output = stage.Forward([new StageInput(SessionId.New(), 0, ids, AllLogits: true)])[0];
        return TensorAssert.Rows(output.Logits!);
    }

    public static float[][] Logits(string dir, int[] ids, ComputeTarget? target = null)
    {
        using var source = Checkpoint.Open(dir);
        return Logits(source, ids, target);
    }

    /// <summary>A fixed sequence of ids inside the vocabulary.</summary>
    public static int[] Ids(int vocab) => [1, 7, 42 % vocab, 300 % vocab, 5, 99 % vocab, 2, 511 % vocab, 17, 64 % vocab];
}
