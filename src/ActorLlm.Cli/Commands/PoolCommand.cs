using System.CommandLine;
using System.Globalization;
using ActorLlm.Cluster.Security;
using ActorLlm.Inference;

namespace ActorLlm.Cli.Commands;

/// <summary>
/// <c>actorllm pool init|invite|revoke|list</c>: the pool's own certificate authority (docs/security.md). Run on the
/// machine that holds the pool directory (the first gateway's). Results on stdout: the token of an invite is the
/// only thing `pool invite` prints there.
/// </summary>
public static class PoolCommand
{
    /// <summary>The pool directory when --pool is not given: $ACTORLLM_POOL, else $HOME/.actorllm/pool-ca.</summary>
    public static string DefaultPoolDir =>
        Environment.GetEnvironmentVariable("ACTORLLM_POOL") is { Length: > 0 } env ? env
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".actorllm", "pool-ca");

    public static Command Create()
    {
        var command = new Command("pool", "The pool's certificate authority: init, invite, revoke, list");
        command.Add(Init());
        command.Add(Invite());
        command.Add(Revoke());
        command.Add(List());
        return command;
    }

    private static Option<string?> PoolOption() => new("--pool") { Description = "The pool directory (default: $ACTORLLM_POOL, else ~/.actorllm/pool-ca)" };

    private static Command Init()
    {
        var dir = new Argument<string>("DIR") { Description = "A new directory for the pool's CA and the first gateway's credentials" };
        var name = new Option<string>("--name") { Description = "The first gateway's node name", DefaultValueFactory = _ => "gateway" };
        var poolId = new Option<string?>("--pool-id") { Description = "The pool's id (default: 16 random hex digits)" };
        var command = new Command("init", "Create a pool: its CA (key + certificate) and the first gateway's certificate") { dir, name, poolId };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(dir)!;
            using var authority = PoolAuthority.Init(path, parse.GetValue(name)!, parse.GetValue(poolId), DateTimeOffset.UtcNow);
            Console.Error.WriteLine($"pool {authority.PoolId} created in {Path.GetFullPath(path)}");
            Console.Error.WriteLine($"  CA fingerprint (SHA-256): {authority.Fingerprint}");
            Console.Error.WriteLine($"  keep {Path.Combine(path, PoolAuthority.CaKeyFile)} secret: whoever has it can admit anyone");
            Console.Error.WriteLine($"  start the gateway with: actorllm node --roles gateway --pool {path} ... ; invite nodes with: actorllm pool invite NAME --pool {path}");
            Console.Out.WriteLine(authority.PoolId);
            return CliApp.ExitOk;
        });
        return command;
    }

    private static Command Invite()
    {
        var name = new Argument<string>("NAME") { Description = "The node's name (its certificate's CN)" };
        var role = new Option<string>("--role") { Description = "worker, gateway or worker,gateway", DefaultValueFactory = _ => "worker" };
        var trust = new Option<string>("--trust") { Description = "volunteer (outputs checked) or trusted", DefaultValueFactory = _ => "volunteer" };
        var expires = new Option<string>("--expires") { Description = "How long the token can be used, e.g. 7d, 12h, 30m", DefaultValueFactory = _ => "7d" };
        var lifetime = new Option<string>("--cert-lifetime") { Description = "How long the node's certificate is valid (it renews before), e.g. 30d", DefaultValueFactory = _ => "30d" };
        var pool = PoolOption();
        var command = new Command("invite", "Print a one-time join token for a new node (only its hash is stored)") { name, role, trust, expires, lifetime, pool };
        command.SetAction(parse =>
        {
            using var authority = PoolAuthority.Open(parse.GetValue(pool) ?? DefaultPoolDir);
            var level = PoolIdentity.ParseTrust(parse.GetValue(trust)!) ?? throw new InvalidRequestException($"--trust must be volunteer or trusted, got '{parse.GetValue(trust)}'");
            var invitation = authority.Invite(
                parse.GetValue(name)!,
                parse.GetValue(role)!.Split(','),
                level,
                Duration(parse.GetValue(expires)!, "--expires"),
                Duration(parse.GetValue(lifetime)!, "--cert-lifetime"),
                DateTimeOffset.UtcNow);
            var r = invitation.Record;
            Console.Error.WriteLine($"invite for '{r.Name}' ({PoolIdentity.TrustText(r.Trust)}, {string.Join("+", r.Roles)}), usable once until {r.Expires:u}; on that machine run:");
            Console.Error.WriteLine($"  actorllm node --join https://GATEWAY:PORT --token TOKEN ...");
            Console.Out.WriteLine(invitation.Token.ToString());
            return CliApp.ExitOk;
        });
        return command;
    }

    private static Command Revoke()
    {
        var name = new Argument<string>("NAME") { Description = "The node to cut off (every certificate issued to it)" };
        var pool = PoolOption();
        var command = new Command("revoke", "Put a node on the deny list (revoked.json), which the gateway enforces as the file changes") { name, pool };
        command.SetAction(parse =>
        {
            using var authority = PoolAuthority.Open(parse.GetValue(pool) ?? DefaultPoolDir);
            var added = authority.Revoke(parse.GetValue(name)!, DateTimeOffset.UtcNow);
            Console.Error.WriteLine(added.Count == 0
                ? $"'{parse.GetValue(name)}' was revoked already"
                : $"revoked '{parse.GetValue(name)}': {added.Count(a => a.Serial is not null)} certificate(s) and the name, in {authority.RevokedPath}");
            return CliApp.ExitOk;
        });
        return command;
    }

    private static Command List()
    {
        var pool = PoolOption();
        var command = new Command("list", "List invites, issued certificates and revocations") { pool };
        command.SetAction(parse =>
        {
            using var authority = PoolAuthority.Open(parse.GetValue(pool) ?? DefaultPoolDir);
            var deny = DenyList.Load(authority.RevokedPath);
            Console.Out.WriteLine($"pool {authority.PoolId}, CA fingerprint {authority.Fingerprint}");
            foreach (var i in authority.Invites())
            {
                Console.Out.WriteLine($"invite  {i.Name,-20} {PoolIdentity.TrustText(i.Trust),-9} {string.Join("+", i.Roles),-15} {(i.Used ? $"used {i.UsedAt:u}" : $"open until {i.Expires:u}")}");
            }

            foreach (var c in authority.Issued())
            {
                Console.Out.WriteLine($"cert    {c.Name,-20} {PoolIdentity.TrustText(c.Trust),-9} {string.Join("+", c.Roles),-15} serial {c.Serial} until {c.NotAfter:u}{(deny.IsRevoked(c.Name, c.Serial) ? " REVOKED" : "")}");
            }

            return CliApp.ExitOk;
        });
        return command;
    }

    /// <summary>A duration as 30d, 12h, 45m or 90s.</summary>
    public static TimeSpan Duration(string text, string option)
    {
        string t = text.Trim().ToLowerInvariant();
        if (t.Length >= 2 && double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out double n) && n > 0 && double.IsFinite(n))
        {
            switch (t[^1])
            {
                case 'd': return TimeSpan.FromDays(n);
                case 'h': return TimeSpan.FromHours(n);
                case 'm': return TimeSpan.FromMinutes(n);
                case 's': return TimeSpan.FromSeconds(n);
            }
        }

        throw new InvalidRequestException($"{option} '{text}': give a positive duration such as 7d, 12h, 30m or 90s");
    }
}
