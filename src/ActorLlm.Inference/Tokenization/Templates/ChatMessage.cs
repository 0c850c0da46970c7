namespace ActorLlm.Inference.Tokenization.Templates;

/// <summary>One message of a conversation as a chat template sees it: <c>message['role']</c> and <c>message['content']</c> (plain text; the caller joins OpenAI text content parts).</summary>
public sealed record ChatMessage(string Role, string Content);
