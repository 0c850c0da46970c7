using Xunit;

namespace ActorLlm.Inference.Tests;

public class ProbeTests
{
    [Fact]
    public void Torch_loads() => Assert.True(float.IsFinite(TorchRuntime.Probe()));
}
