using System.CommandLine;
using ActorLlm.Inference;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Devices;
using ActorLlm.Inference.Execution;

namespace ActorLlm.Cli;

/// <summary>Options several commands share, and how their values are turned into settings.</summary>
public static class CommonOptions
{
    public static Option<string?> Model() => new("--model", "-m")
    {
        Description = "Model directory (Hugging Face layout or unit store), or ORG/NAME in the Hugging Face cache. Default: $ACTORLLM_MODEL or the bundled stories260K.",
    };

    public static Option<string> Device() => new("--device")
    {
        Description = "cpu, cuda or cuda:N",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<string> DType() => new("--dtype")
    {
        Description = "f32, f16 or bf16",
        DefaultValueFactory = _ => "f32",
    };

    /// <summary>
    /// --dtype for the commands that run a model as users do (generate, score): no default; <see cref="ModelTarget"/>
    /// then takes the model's own on CUDA and f32 on the CPU. The measuring commands keep f32 as their default.
    /// </summary>
    public static Option<string?> ModelDType() => new("--dtype")
    {
        Description = "f32, f16 or bf16 (default: on CUDA the model's config.json dtype, on the CPU f32)",
    };

    public static Option<int> MaxContext() => new("--max-context")
    {
        Description = "KV cache positions per session (capped at the model's max_position_embeddings)",
        DefaultValueFactory = _ => 2048,
    };

    public static Option<string?> Prompt() => new("--prompt", "-p")
    {
        Description = "Prompt text (empty: start from BOS)",
    };

    public static Option<string?> PromptFile() => new("--prompt-file")
    {
        Description = "Read the prompt from a UTF-8 file ('-' for stdin)",
    };

    /// <summary>
    /// The model directory to use: the option, else $ACTORLLM_MODEL, else the bundled model. A directory, a Hugging Face
    /// cache entry (models--ORG--NAME) or ORG/NAME in the Hugging Face cache (<see cref="ModelLocation.Resolve"/>).
    /// </summary>
    public static string ResolveModel(string? option)
    {
        if (!string.IsNullOrEmpty(option))
        {
            return ModelLocation.Resolve(option);
        }

        string? env = Environment.GetEnvironmentVariable("ACTORLLM_MODEL");
        if (!string.IsNullOrEmpty(env))
        {
            return ModelLocation.Resolve(env);
        }

        string bundled = Path.Combine(AppContext.BaseDirectory, "models", "stories260K");
        return Directory.Exists(bundled)
            ? bundled
            : throw new ModelFormatException($"no --model given and the bundled model is missing at {bundled}");
    }

    /// <summary>A size as the settings write it: a whole number of bytes, or with b, KB, MB, GB, KiB, MiB or GiB (e.g. 4GiB).</summary>
    public static long ParseBytes(string text)
    {
        string t = text.Trim();
        int digits = 0;
        while (digits < t.Length && (char.IsAsciiDigit(t[digits]) || t[digits] == '.'))
        {
            digits++;
        }

        long scale = t[digits..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "KB" => 1000,
            "MB" => 1000_000,
            "GB" => 1000_000_000,
            "K" or "KIB" => 1L << 10,
            "M" or "MIB" => 1L << 20,
            "G" or "GIB" => 1L << 30,
            _ => throw new InvalidRequestException($"'{text}' is not a size (e.g. 4GiB, 512MiB, 1000000)"),
        };
        return digits > 0 && double.TryParse(t[..digits], System.Globalization.NumberStyles.AllowDecimalPoint, System.Globalization.CultureInfo.InvariantCulture, out double value) && value >= 0
            ? (long)(value * scale)
            : throw new InvalidRequestException($"'{text}' is not a size (e.g. 4GiB, 512MiB, 1000000)");
    }

    public static ComputeTarget Target(string device, string dtype) => ComputeTarget.Parse(device, dtype);

    /// <summary>The target for <paramref name="modelDir"/>: <paramref name="dtype"/> when given, else <see cref="DefaultDType"/>'s choice.</summary>
    public static ComputeTarget ModelTarget(string device, string? dtype, string modelDir)
    {
        var parsedDevice = ComputeTarget.ParseDevice(device);
        Protocol.DType? asked = dtype is null
            ? null
            : Protocol.DTypes.TryParse(dtype) ?? throw new InvalidRequestException($"--dtype must be f32, f16 or bf16, got '{dtype}'");
        var config = Inference.Config.ModelConfig.Load(modelDir).Raw;
        return ComputeTarget.Parse(device, DefaultDType.Choose(asked, parsedDevice.type == TorchSharp.DeviceType.CUDA, config, Path.Combine(modelDir, "config.json")));
    }

    public static KvCacheOptions Cache(int maxContext, int maxSessions = 16)
    {
        if (maxContext <= 0)
        {
            throw new InvalidRequestException($"--max-context must be positive, got {maxContext}");
        }

        return new KvCacheOptions(maxSessions, maxContext);
    }

    /// <summary>The prompt from --prompt or --prompt-file (strict UTF-8); empty when neither is given.</summary>
    public static string ReadPrompt(string? prompt, string? promptFile)
    {
        if (prompt is not null && promptFile is not null)
        {
            throw new InvalidRequestException("give --prompt or --prompt-file, not both");
        }

        if (promptFile is null)
        {
            return prompt ?? "";
        }

        byte[] bytes;
        if (promptFile == "-")
        {
            using var stdin = Console.OpenStandardInput();
            using var buffer = new MemoryStream();
            stdin.CopyTo(buffer);
            bytes = buffer.ToArray();
        }
        else if (!File.Exists(promptFile))
        {
            throw new InvalidRequestException($"prompt file '{promptFile}' not found");
        }
        else
        {
            bytes = File.ReadAllBytes(promptFile);
        }

        return Inference.Generation.Prompt.DecodeUtf8(bytes);
    }
}
