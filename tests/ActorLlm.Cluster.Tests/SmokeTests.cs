using Akka.Actor;
using Akka.TestKit.Xunit2;
using Xunit;

namespace ActorLlm.Cluster.Tests;

public class SmokeTests : TestKit
{
    [Fact]
    public void TestKit_runs_with_xunit_v2()
    {
        var echo = Sys.ActorOf(Props.Create(() => new Echo()));
        echo.Tell("hi");
        ExpectMsg("hi");
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => ReceiveAny(m => Sender.Tell(m));
    }
}
