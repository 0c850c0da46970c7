using ActorLlm.Inference.Tokenization;
using static TorchSharp.torch;

namespace ActorLlm.Inference.Generation;

/// <summary>One candidate continuation's score: the total log-probability of its tokens after the prompt.</summary>
public sealed record ChoiceScore(int Index, string Choice, double LogProbability, int Tokens);

/// <summary>
/// The choices of one scoring job as token sequences (prompt + choice) with where each choice starts, padded to one
/// length so they run as one batch; causal attention keeps the padding out of the real tokens.
/// </summary>
public sealed record ScoringBatch(IReadOnlyList<(int[] Sequence, int ChoiceStart)> Choices, int Length, int Pad)
{
    public int[] Padded(int choice) => [.. Choices[choice].Sequence, .. Enumerable.Repeat(Pad, Length - Choices[choice].Sequence.Length)];
}

/// <summary>
/// Scoring fixed candidate continuations, the way to restrict a model's answer to predefined choices:
/// each candidate's log-probability is the sum of log p(token | everything before it) over its tokens.
/// </summary>
public static class ChoiceScoring
{
    /// <summary>
    /// Token ids of prompt + choice, and where the choice starts. The pair is tokenized together (as the model
    /// would read it) and split where the prompt's own tokens end; if joint tokenization merges across the
    /// boundary, the choice is tokenized on its own and appended. Both are user text, encoded as
    /// <see cref="Prompt.Encode"/> does: special-token look-alikes stay plain text.
    /// </summary>
    /// <param name="rendered">The prompt is a rendered chat template (<see cref="Prompt.EncodeRenderedUtf8"/>); the
    /// choice stays user text either way.</param>
    public static (int[] Sequence, int ChoiceStart) Sequence(TextTokenizer tokenizer, string prompt, int[] promptIds, string choice, bool rendered = false)
    {
        if (choice.Length == 0)
        {
            throw new InvalidRequestException("a choice must not be empty");
        }

        if (promptIds.Length == 0)
        {
            // The first choice token needs a prediction, and the first prediction comes after the first token.
            throw new InvalidRequestException("scoring needs a prompt (this tokenizer adds no BOS to start from)");
        }

        int[] joint = rendered
            ? [.. promptIds, .. tokenizer.Encode(choice, addSpecialTokens: false, parseSpecialTokens: false)]
            : Prompt.Encode(tokenizer, prompt + choice);
        if (joint.Length > promptIds.Length && joint.AsSpan(0, promptIds.Length).SequenceEqual(promptIds))
        {
            return (joint, promptIds.Length);
        }

        int[] alone = tokenizer.Encode(choice, addSpecialTokens: false, parseSpecialTokens: false);
        return ([.. promptIds, .. alone], promptIds.Length);
    }

    /// <summary>Tokenizes every choice after the prompt and checks the lot against the context.</summary>
    public static ScoringBatch Prepare(TextTokenizer tokenizer, string prompt, IReadOnlyList<string> choices, int contextLimit, bool rendered = false)
    {
        if (choices.Count == 0)
        {
            throw new InvalidRequestException("give at least one choice to score");
        }

        int[] promptIds = rendered ? Prompt.EncodeRenderedUtf8(tokenizer, System.Text.Encoding.UTF8.GetBytes(prompt)) : Prompt.Encode(tokenizer, prompt);
        var sequences = choices.Select(c => Sequence(tokenizer, prompt, promptIds, c, rendered)).ToArray();
        int length = sequences.Max(s => s.Sequence.Length);
        if (length > contextLimit)
        {
            throw new InvalidRequestException($"prompt + choice is {length} tokens but the context holds {contextLimit}");
        }

        return new ScoringBatch(sequences, length, tokenizer.EosIds.Count > 0 ? tokenizer.EosIds.Min() : 0);
    }

    /// <summary>Sum of log-softmax(logits[p-1])[sequence[p]] for p in [choiceStart, length).</summary>
    /// <param name="logits">[T', vocab] float32, T' >= sequence length (padding rows are ignored).</param>
    public static double LogProbability(Tensor logits, int[] sequence, int choiceStart)
    {
        using var scope = NewDisposeScope();
        int n = sequence.Length - choiceStart;
        var rows = logits.narrow(0, choiceStart - 1, n);                                      // predictions for the choice tokens
        var logProbs = nn.functional.log_softmax(rows.to(ScalarType.Float64), -1);
        var targets = tensor(sequence[choiceStart..].Select(i => (long)i).ToArray(), ScalarType.Int64, logits.device).unsqueeze(1);
        return logProbs.gather(1, targets).sum().item<double>();
    }
}
