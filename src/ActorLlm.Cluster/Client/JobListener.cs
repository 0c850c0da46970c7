using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Client;

/// <summary>
/// A client's end of one job: receives the text as it streams (in order, even if deltas overtake each other) and the
/// final answer, and completes a task with it.
/// </summary>
internal sealed class JobListener : ReceiveActor
{
    private readonly SortedDictionary<int, string> _early = [];
    private int _next;

    public JobListener(Action<string>? onText, Action<JobMessages.JobRouted>? onRouted, TaskCompletionSource<object> done)
    {
        Receive<JobMessages.JobRouted>(r => onRouted?.Invoke(r));
        Receive<JobMessages.TextDelta>(d =>
        {
            _early[d.Sequence] = d.Text;
            while (_early.Remove(_next, out var text))
            {
                onText?.Invoke(text);
                _next++;
            }
        });
        Receive<JobMessages.GenerationCompleted>(c => Finish(done, c));
        Receive<JobMessages.ScoringCompleted>(c => Finish(done, c));
        Receive<JobMessages.JobFailed>(f => Finish(done, f));
    }

    private static void Finish(TaskCompletionSource<object> done, object result)
    {
        done.TrySetResult(result);
        Context.Stop(Context.Self);
    }
}
