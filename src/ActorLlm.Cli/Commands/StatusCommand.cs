using System.CommandLine;
using System.Globalization;
using System.Text;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cli.Commands;

/// <summary><c>actorllm status --cluster URL</c>: members, devices, unit ranges, replicas, route version, load.</summary>
public static class StatusCommand
{
    public static Command Create()
    {
        var cluster = ClusterOptions.Cluster(required: true);
        var apiKey = ClusterOptions.ApiKey();
        var timeout = ClusterOptions.Timeout();
        var json = new Option<bool>("--json") { Description = "Print the status as JSON (the gateway's /api/status)" };
        var watch = new Option<int?>("--watch") { Description = "Print it again every N seconds until Ctrl-C" };
        var command = new Command("status", "Show a pool's members, devices, placement and load") { cluster, apiKey, timeout, json, watch };
        command.SetAction(async (parse, cancel) =>
        {
            using var client = ClusterOptions.Client(parse.GetValue(cluster)!, parse.GetValue(apiKey), parse.GetValue(timeout));
            int? every = parse.GetValue(watch);
            if (every is < 1)
            {
                throw new Inference.InvalidRequestException("--watch needs a period of at least 1 second");
            }

            do
            {
                var status = await client.StatusAsync(cancel);
                string text = parse.GetValue(json)
                    ? System.Text.Json.JsonSerializer.Serialize(status, Gateway.Api.StatusApi.Json) + Environment.NewLine
                    : Format(status);
                if (every is not null && !Console.IsOutputRedirected)
                {
                    Console.Clear();
                }

                Console.Out.Write(text);
                Console.Out.Flush();
                if (every is int seconds)
                {
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(seconds), cancel);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
            }
            while (every is not null && !cancel.IsCancellationRequested);

            return CliApp.ExitOk;
        });
        return command;
    }

    public static string Format(StatusMessages.ClusterStatus s)
    {
        var b = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        b.AppendLine(inv, $"placement: {PlacementStatuses.Describe(s.PlacementStatus, s.Loading)}; route version {s.RouteVersion}; {s.Layers} layers ({s.UnitCount} units); redundancy {s.RedundancyAchieved} of {s.RedundancyRequested}");
        b.AppendLine("members:");
        foreach (var m in s.Members)
        {
            b.AppendLine(inv, $"  {m.Address,-40} {m.Status,-8} [{string.Join(",", m.Roles)}]{(m.Reachable ? "" : " UNREACHABLE")}");
        }

        b.AppendLine("devices:");
        foreach (var d in s.Devices.OrderBy(d => d.ReplicaGroup).ThenBy(d => d.Assigned?.Start ?? int.MaxValue))
        {
            string assigned = d.Quarantined is not null ? "QUARANTINED" : d.Assigned is { } a ? a.Describe(s.Layers) : "spare";
            string serving = d.Serving is { } v ? v.Describe(s.Layers) : "-";
            string streamed = d.StreamedUnits(s.Layers) is { } st ? $"streamed {st.Describe(s.Layers)} ({d.StreamedLayers} layers from host memory)" : "resident";
            b.AppendLine(inv, $"  {d.Device.Label,-22} group {(d.ReplicaGroup < 0 ? "-" : d.ReplicaGroup.ToString(inv)),-2} assigned {assigned,-22} serving {serving,-22} " +
                $"{streamed}  {d.Device.MemoryBytes / 1048576.0,9:F0} MiB {d.Device.Speed,8:F0} l/s  sessions {d.ActiveSessions} queued {d.Queued} {d.TokensPerSecond,7:F1} tok/s  {d.Device.Node}");
        }

        foreach (var note in s.Notes)
        {
            b.AppendLine(inv, $"note: {note}");
        }

        return b.ToString();
    }
}
