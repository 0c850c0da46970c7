using ActorLlm.Protocol;

namespace ActorLlm.Cluster.Worker.Internal;

/// <summary>
/// The tokens each session has run through an end stage (prompt and generated), for the repetition penalty.
/// A step starting earlier than the recorded length (a replay) replaces what follows it.
/// </summary>
internal sealed class SessionHistories
{
    private readonly Dictionary<SessionId, List<int>> _tokens = [];

    public IReadOnlyCollection<int> Update(SessionId session, int start, int[] ids)
    {
        if (!_tokens.TryGetValue(session, out var list))
        {
            list = [];
            _tokens[session] = list;
        }

        if (start < list.Count)
        {
            list.RemoveRange(start, list.Count - start);
        }

        list.AddRange(ids);
        return list;
    }

    public void Release(SessionId session) => _tokens.Remove(session);

    public int Count => _tokens.Count;
}
