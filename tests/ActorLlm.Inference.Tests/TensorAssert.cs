using ActorLlm.Inference.Conformance;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests;

public static class TensorAssert
{
    /// <summary>[rows, cols] float tensor to managed rows (any device, any float dtype).</summary>
    public static float[][] Rows(Tensor t)
    {
        using var cpu = t.to(ScalarType.Float32, CPU).contiguous();
        long rows = cpu.shape[0], cols = cpu.shape[1];
        var flat = cpu.data<float>().ToArray();
        return Enumerable.Range(0, (int)rows).Select(r => flat.AsSpan((int)(r * cols), (int)cols).ToArray()).ToArray();
    }

    public static double MaxAbsDiff(float[][] expected, float[][] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.All(expected.Zip(actual), p => Assert.Equal(p.First.Length, p.Second.Length));
        return ConformanceCheck.MaxDiff(expected, actual);
    }

    /// <summary>Asserts every element is within <paramref name="tolerance"/> and says by how much when not.</summary>
    public static void Close(float[][] expected, float[][] actual, double tolerance, string what)
    {
        double diff = MaxAbsDiff(expected, actual);
        Assert.True(diff <= tolerance, $"{what}: max |expected - actual| = {diff:E3} > {tolerance:E1}");
    }

    public static void Close(Tensor expected, Tensor actual, double tolerance, string what) => Close(Rows(expected), Rows(actual), tolerance, what);
}
