using System.CommandLine;
using System.Text.Json;
using ActorLlm.Inference;
using ActorLlm.Inference.Checkpoints;
using ActorLlm.Inference.Execution;
using ActorLlm.Protocol;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm logits --ids 1,2,3</c>: the full-vocabulary logits of every position as JSON
/// <c>{"logits": [[...], ...]}</c>, for debugging and conformance checks against other implementations.
/// </summary>
public static class LogitsCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var device = CommonOptions.Device();
        var dtype = CommonOptions.DType();
        var ids = new Option<string>("--ids") { Description = "Comma-separated token ids, e.g. 1,2,3", Required = true };
        var command = new Command("logits", "Print the logits of every position as JSON") { model, device, dtype, ids };
        command.SetAction(parse =>
        {
            int[] tokens = ParseIds(parse.GetValue(ids)!);
            string dir = CommonOptions.ResolveModel(parse.GetValue(model));
            var target = CommonOptions.Target(parse.GetValue(device)!, parse.GetValue(dtype)!);
            using var source = Checkpoint.Open(dir);
            if (tokens.Length > source.Config.MaxPositionEmbeddings)
            {
                throw new InvalidRequestException($"{tokens.Length} ids exceed the model's context of {source.Config.MaxPositionEmbeddings}");
            }

            using var stage = StageExecutor.Load(source, UnitRange.Whole(source.Config.NumLayers), target, new KvCacheOptions(1, tokens.Length));
            using var output = stage.Forward([new StageInput(SessionId.New(), 0, tokens, AllLogits: true)])[0];
            using var cpu = output.Logits!.cpu();
            var values = cpu.data<float>().ToArray();
            int vocab = (int)cpu.shape[1];

            using var stdout = Console.OpenStandardOutput();
            using (var json = new Utf8JsonWriter(stdout))
            {
                json.WriteStartObject();
                json.WriteStartArray("logits");
                for (int row = 0; row < tokens.Length; row++)
                {
                    json.WriteStartArray();
                    foreach (float v in values.AsSpan(row * vocab, vocab))
                    {
                        json.WriteNumberValue(v);
                    }

                    json.WriteEndArray();
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            stdout.WriteByte((byte)'\n');
            return CliApp.ExitOk;
        });
        return command;
    }

    public static int[] ParseIds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new InvalidRequestException("--ids needs at least one token id");
        }

        return parts.Select(p => int.TryParse(p, out int id) ? id : throw new InvalidRequestException($"--ids: '{p}' is not an integer")).ToArray();
    }
}
