using ActorLlm.Inference.Generation;
using Xunit;

namespace ActorLlm.Inference.Tests.Generation;

public class StopStringMatcherTests
{
    [Fact]
    public void Text_before_the_stop_string_is_emitted_and_the_rest_dropped()
    {
        var m = new StopStringMatcher(["The End"]);
        var emitted = string.Concat(new[] { "Once upon", " a time. Th", "e E", "nd and more" }.Select(m.Push));
        Assert.True(m.Stopped);
        Assert.Equal("Once upon a time. ", emitted);
        Assert.Equal("", m.Push("ignored"));
    }

    [Fact]
    public void A_possible_prefix_is_held_back_until_it_is_decided()
    {
        var m = new StopStringMatcher(["\n\n"]);
        Assert.Equal("line", m.Push("line\n"));
        Assert.Equal("\nnext", m.Push("next"));
        Assert.False(m.Stopped);
        Assert.Equal("", m.Flush());
    }

    [Fact]
    public void Held_back_text_is_released_at_the_end_when_no_stop_came()
    {
        var m = new StopStringMatcher(["STOP"]);
        Assert.Equal("abc", m.Push("abcST"));
        Assert.Equal("ST", m.Flush());
    }

    [Fact]
    public void The_earliest_of_several_stop_strings_wins()
    {
        var m = new StopStringMatcher(["b", "xyz"]);
        Assert.Equal("a", m.Push("axyzb"));
    }
}
