using TorchSharp;

namespace ActorLlm.Inference;

/// <summary>Probe placeholder.</summary>
public static class TorchRuntime
{
    public static float Probe()
    {
        using var a = torch.randn(3, 3);
        using var b = a.matmul(a).sum();
        return b.item<float>();
    }
}
