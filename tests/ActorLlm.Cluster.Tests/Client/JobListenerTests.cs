using ActorLlm.Cluster.Client;
using ActorLlm.Protocol;
using ActorLlm.Protocol.Messages;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Xunit;

namespace ActorLlm.Cluster.Tests.Client;

/// <summary>A client's listener passes text on in the order it arrives and fails the job when a delta is missing.</summary>
public sealed class JobListenerTests : TestKit
{
    private readonly SessionId _id = SessionId.New();
    private readonly List<string> _text = [];
    private readonly TaskCompletionSource<object> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private IActorRef Listener() => Sys.ActorOf(Props.Create(() => new JobListener(_text.Add, null, _done)));

    private JobMessages.TextDelta Delta(int sequence) => new(_id, sequence, $"<{sequence}>");

    [Fact]
    public async Task Text_is_passed_on_as_it_arrives_and_the_final_answer_completes_the_job()
    {
        var listener = Listener();
        foreach (int i in new[] { 0, 1, 2 })
        {
            listener.Tell(Delta(i));
        }

        var completed = new JobMessages.GenerationCompleted(_id, "<0><1><2>", 3, 3, FinishReason.Length, 1, 2, [], [], 0);
        listener.Tell(completed);

        Assert.Same(completed, await _done.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(["<0>", "<1>", "<2>"], _text);
    }

    [Theory]
    [InlineData(new[] { 0, 2 }, "text delta 2 arrived where 1 was due")]
    [InlineData(new[] { 1 }, "text delta 1 arrived where 0 was due")]
    [InlineData(new[] { 0, 1, 1 }, "text delta 1 arrived where 2 was due")]
    public async Task A_delta_out_of_sequence_is_lost_text_and_fails_the_job_saying_so(int[] sequences, string reason)
    {
        var listener = Listener();
        Watch(listener);
        foreach (int i in sequences)
        {
            listener.Tell(Delta(i));
        }

        var failed = Assert.IsType<JobMessages.JobFailed>(await _done.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(_id, failed.Session);
        Assert.StartsWith(reason, failed.Reason);
        Assert.Equal(sequences.TakeWhile((s, i) => s == i).Select(s => $"<{s}>"), _text);

        // The listener stops, so the session, which watches it, stops the job and releases its stages.
        ExpectTerminated(listener);
    }
}
