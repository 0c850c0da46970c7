using ActorLlm.Protocol;
using TorchSharp;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Devices;

/// <summary>Where a stage computes and in which precision: "cpu" | "cuda" | "cuda:N", and f32 | f16 | bf16.</summary>
public sealed record ComputeTarget(Device Device, ScalarType DType)
{
    public static ComputeTarget Cpu { get; } = new(CPU, ScalarType.Float32);

    public bool IsCuda => Device.type == DeviceType.CUDA;

    /// <summary>Bytes per element of <see cref="DType"/>.</summary>
    public int ElementSize => DType == ScalarType.Float32 ? 4 : 2;

    /// <summary>Parses the CLI spellings. Throws <see cref="InvalidRequestException"/> for unknown or unavailable devices.</summary>
    public static ComputeTarget Parse(string device, string dtype) => Parse(device, ParseDType(dtype).ToDType());

    /// <summary>A device spelling (as <see cref="Parse(string, string)"/>) with a dtype already parsed.</summary>
    public static ComputeTarget Parse(string device, Protocol.DType dtype) => new(ParseDevice(device), dtype.ToTorch());

    public static Device ParseDevice(string spec)
    {
        string s = spec.Trim().ToLowerInvariant();
        if (s == "cpu")
        {
            return CPU;
        }

        if (s == "cuda" || s.StartsWith("cuda:", StringComparison.Ordinal))
        {
            int index = 0;
            if (s.Length > 4 && !int.TryParse(s.AsSpan(5), out index))
            {
                throw new InvalidRequestException($"device '{spec}': expected cuda:N with N a GPU index");
            }

            // Load the CUDA backend explicitly: with a libtorch brought by the machine (PyTorch's lib directory)
            // nothing else would ask for it before the first tensor is placed.
            if (!TryInitializeCuda() || !cuda.is_available())
            {
                throw new InvalidRequestException(
                    $"device '{spec}': CUDA is not available here (no GPU, or this build carries the CPU libtorch; see README 'GPU')");
            }

            int count = cuda.device_count();
            if (index < 0 || index >= count)
            {
                throw new InvalidRequestException($"device '{spec}': this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})");
            }

            return new Device(DeviceType.CUDA, index);
        }

        throw new InvalidRequestException($"unknown device '{spec}' (use cpu, cuda or cuda:N)");
    }

    private static bool TryInitializeCuda()
    {
        try
        {
            InitializeDeviceType(DeviceType.CUDA);
            return true;
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or DllNotFoundException or TypeInitializationException)
        {
            return false;
        }
    }

    public static ScalarType ParseDType(string spec) =>
        (DTypes.TryParse(spec.Trim()) ?? throw new InvalidRequestException($"unknown dtype '{spec}' (use f32, f16 or bf16)")).ToTorch();

    public override string ToString() => $"{Device} {DType.ToDType().Name()}";
}
