using ActorLlm.Protocol.Messages;
using Akka.Actor;

namespace ActorLlm.Cluster.Client;

/// <summary>
/// A client's end of one job: passes the text on as it streams and completes a task with the final answer (or with
/// a <see cref="JobMessages.JobFailed"/> when streamed text went missing).
/// </summary>
/// <remarks>
/// Deltas are passed on as they arrive because they arrive in order: one session actor sends all of a job's deltas
/// to this one listener, and Akka delivers the messages of one sender to one receiver in the order they were sent,
/// across remoting too. The sender does not change during a job: a session is a sharded entity that lives on one
/// gateway until it stops (a rebalance stops it rather than moving it, and only a client's Start message is routed
/// through the region, so no second incarnation takes the job over), and the stages answer that actor directly.
/// What remoting does not promise is delivery: a dropped connection can lose messages. So a delta that is not the
/// next in sequence means lost text, and the job fails saying so rather than ending with a hole in its output.
/// </remarks>
internal sealed class JobListener : ReceiveActor
{
    private int _next;

    public JobListener(Action<string>? onText, Action<JobMessages.JobRouted>? onRouted, TaskCompletionSource<object> done)
    {
        Receive<JobMessages.JobRouted>(r => onRouted?.Invoke(r));
        Receive<JobMessages.TextDelta>(d =>
        {
            if (d.Sequence != _next)
            {
                Finish(done, new JobMessages.JobFailed(d.Session, $"text delta {d.Sequence} arrived where {_next} was due: streamed text was lost"));
                return;
            }

            _next++;
            onText?.Invoke(d.Text);
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
