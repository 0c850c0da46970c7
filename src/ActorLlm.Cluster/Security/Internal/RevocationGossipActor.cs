using Akka.Actor;
using Akka.DistributedData;
using Akka.Event;

namespace ActorLlm.Cluster.Security.Internal;

/// <summary>See <see cref="RevocationGossip"/>.</summary>
internal sealed class RevocationGossipActor : ReceiveActor
{
    private static readonly GSetKey<string> s_key = new("actorllm-revoked");
    private readonly PoolSecurity _pool;
    private readonly IActorRef _replicator;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<string> _seen = [];
    private Action<IReadOnlyList<Revocation>>? _onChanged;

    public RevocationGossipActor(PoolSecurity pool)
    {
        _pool = pool;
        _replicator = DistributedData.Get(Context.System).Replicator;
        Receive<Changed>(c => c.Key.Equals(s_key), c => OnGossip(c.Get(s_key)));
        Receive<PublishEntries>(p => Publish(p.Entries));
        Receive<UpdateSuccess>(_ => { });
        Receive<IUpdateFailure>(f => _log.Warning("revocations: could not update the replicated deny list: {0}", f));
    }

    protected override void PreStart()
    {
        _replicator.Tell(Dsl.Subscribe(s_key, Self));
        if (_pool.Authority is not null)
        {
            var self = Self;
            _onChanged = added => self.Tell(new PublishEntries(added));
            _pool.Deny.Changed += _onChanged;
            Publish(_pool.Deny.Entries);
        }
    }

    protected override void PostStop()
    {
        if (_onChanged is not null)
        {
            _pool.Deny.Changed -= _onChanged;
        }

        _replicator.Tell(Dsl.Unsubscribe(s_key, Self));
    }

    private void Publish(IReadOnlyList<Revocation> entries)
    {
        if (entries.Count == 0 || _pool.Authority is not { } authority)
        {
            return;
        }

        var signed = entries.Select(authority.SignRevocation).ToArray();
        _replicator.Tell(Dsl.Update(s_key, GSet<string>.Empty, WriteLocal.Instance, set => signed.Aggregate(set, (s, e) => s.Add(e))));
    }

    private void OnGossip(GSet<string> set)
    {
        var ca = _pool.Credentials!.Ca;
        var valid = new List<Revocation>();
        foreach (string element in set.Elements.Where(_seen.Add))
        {
            if (SignedRevocation.Verify(element, ca) is { } revocation)
            {
                valid.Add(revocation);
            }
            else
            {
                _log.Warning("revocations: ignored an entry not signed by the pool CA: {0}", element.Length > 80 ? element[..80] + "..." : element);
            }
        }

        if (_pool.Deny.Merge(valid).Count > 0 && _pool.Authority is null)
        {
            try
            {
                _pool.Deny.Save(_pool.RevokedPath);
            }
            catch (IOException e)
            {
                _log.Warning("revocations: could not save {0}: {1}", _pool.RevokedPath, e.Message);
            }
        }
    }

    private sealed record PublishEntries(IReadOnlyList<Revocation> Entries);
}
