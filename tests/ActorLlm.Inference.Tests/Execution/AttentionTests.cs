using ActorLlm.Inference.Model;
using Xunit;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Tests.Execution;

public class AttentionTests
{
    /// <summary>The baddbmm call order that works around TorchSharp 0.107's binding (see Attention.AddBatchedProduct).</summary>
    [Fact]
    public void The_batched_product_with_an_addend_is_input_plus_alpha_times_b1_b2()
    {
        using var scope = NewDisposeScope();
        var input = randn(3, 4, 5);
        var b1 = randn(3, 4, 6);
        var b2 = randn(3, 6, 5);
        var expected = input + (matmul(b1, b2) * 0.5f);
        var actual = Attention.AddBatchedProduct(input, b1, b2, 0.5f);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(allclose(expected, actual, rtol: 1e-5, atol: 1e-5), "baddbmm computed something else: has TorchSharp's binding changed?");
    }
}
