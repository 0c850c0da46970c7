using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;

namespace ActorLlm.Cluster.Worker.Internal;

/// <summary>
/// Which arriving steps a worker drops unanswered, because their session has moved on: steps numbered below one the
/// session superseded (it failed over to another route), and ring steps (sent on by the route's last stage, not by the
/// session) for a session the stage no longer holds (the session ended and released it while the ring was in flight).
/// The session ignores answers to either, so answering would only spend the stage's time; every other step is
/// admitted, and a step the stage cannot run is answered with StageFailed as before.
/// </summary>
internal sealed class StepAdmission
{
    private readonly Dictionary<SessionId, long> _superseded = [];

    /// <summary>Steps of <paramref name="session"/> numbered below <paramref name="step"/> are dropped from now on.</summary>
    public void Supersede(SessionId session, long step) =>
        _superseded[session] = Math.Max(step, _superseded.GetValueOrDefault(session, long.MinValue));

    /// <summary>The session ended: nothing of it is kept.</summary>
    public void Release(SessionId session) => _superseded.Remove(session);

    /// <param name="holdsSession">Whether the executor of the step's range holds its session; null when the stage does not serve that range.</param>
    public bool Admits(StageMessages.Forward step, bool? holdsSession) =>
        !IsSuperseded(step) && !(step.FromRing && holdsSession == false);

    public bool IsSuperseded(StageMessages.Forward step) =>
        _superseded.TryGetValue(step.Session, out long below) && step.Step < below;

    public int Count => _superseded.Count;
}
