using System.CommandLine;
using System.Globalization;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Spectre.Console;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm status --cluster URL</c>: members, devices, unit ranges, replicas, route version, load, as tables (or
/// <c>--json</c>, the gateway's /api/status); <c>--watch N</c> prints it again every N seconds until Ctrl-C.
/// </summary>
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
                if (every is not null && !Console.IsOutputRedirected)
                {
                    Console.Clear();
                }

                if (parse.GetValue(json))
                {
                    Console.Out.Write(System.Text.Json.JsonSerializer.Serialize(status, Gateway.Api.StatusApi.Json) + Environment.NewLine);
                }
                else if (Console.IsOutputRedirected)
                {
                    Console.Out.Write(Format(status));
                }
                else
                {
                    Render(status, AnsiConsole.Console);
                }

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

    /// <summary>The status as plain text (no colours), as `status` prints it when its output is not a terminal.</summary>
    public static string Format(StatusMessages.ClusterStatus s)
    {
        var text = new StringWriter(CultureInfo.InvariantCulture);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(text),
        });
        console.Profile.Width = 240;
        Render(s, console);
        return text.ToString();
    }

    /// <summary>
    /// A heading line, the members and the devices as tables (Spectre.Console: colours and box lines on a terminal,
    /// plain text otherwise), then the coordinator's notes.
    /// </summary>
    public static void Render(StatusMessages.ClusterStatus s, IAnsiConsole console)
    {
        var inv = CultureInfo.InvariantCulture;
        string state = PlacementStatuses.Describe(s.PlacementStatus, s.Loading);
        string colour = s.ServesPlan() ? "green" : s.PlacementStatus.CoversModel() ? "yellow" : "red";
        console.MarkupLine(inv, $"placement: [{colour}]{Markup.Escape(state)}[/]; route version {s.RouteVersion}; {s.Layers} layers ({s.UnitCount} units); redundancy {s.RedundancyAchieved} of {s.RedundancyRequested}");

        var members = new Table { Border = TableBorder.Rounded, Title = new TableTitle("members") };
        members.AddColumns("address", "status", "roles", "reachable");
        foreach (var m in s.Members)
        {
            members.AddRow(
                Markup.Escape(m.Address.ToString()),
                Markup.Escape(m.Status),
                Markup.Escape(string.Join(",", m.Roles)),
                m.Reachable ? "yes" : "[red]UNREACHABLE[/]");
        }

        console.Write(members);

        var devices = new Table { Border = TableBorder.Rounded, Title = new TableTitle("devices") };
        devices.AddColumns("device", "group", "assigned", "serving", "weights", "memory MiB", "layers/s", "sessions", "queued", "tok/s", "node");
        foreach (var column in devices.Columns.Skip(5).Take(5))
        {
            column.RightAligned();
        }

        foreach (var d in s.Devices.OrderBy(d => d.ReplicaGroup).ThenBy(d => d.Assigned?.Start ?? int.MaxValue))
        {
            string assigned = d.Quarantined is not null ? "[red]QUARANTINED[/]"
                : d.Assigned is { } a ? Markup.Escape(a.Describe(s.Layers)) : "[grey]spare[/]";
            string serving = d.Serving is { } v ? Markup.Escape(v.Describe(s.Layers)) : "-";
            string weights = d.StreamedUnits(s.Layers) is { } st
                ? Markup.Escape($"streamed {st.Describe(s.Layers)} ({d.StreamedLayers} layers from host memory)")
                : "resident";
            devices.AddRow(
                Markup.Escape(d.Device.Label),
                d.ReplicaGroup < 0 ? "-" : d.ReplicaGroup.ToString(inv),
                assigned,
                serving,
                weights,
                (d.Device.MemoryBytes / 1048576.0).ToString("F0", inv),
                d.Device.Speed.ToString("F0", inv),
                d.ActiveSessions.ToString(inv),
                d.Queued.ToString(inv),
                d.TokensPerSecond.ToString("F1", inv),
                Markup.Escape(d.Device.Node.ToString()));
        }

        console.Write(devices);
        foreach (var note in s.Notes)
        {
            console.MarkupLine(inv, $"note: {Markup.Escape(note)}");
        }
    }
}
