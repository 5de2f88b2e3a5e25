/// Token counts without a tokenizer. What a request may cost is reserved before it is sent, so the
/// prompt is over-estimated on purpose: a token per three bytes of text (English runs about four
/// characters a token, CJK about three bytes), eight tokens of framing per message, a listed token id
/// per token. What was generated, when an upstream reports no usage, is estimated at OpenAI's four
/// characters a token; records made from that are marked `estimated`.
enum TokenEstimate {
    /// The prompt of a request, on the high side: every string in `messages`, `prompt` or `input`.
    static func prompt(of body: JSONValue, operation: ModelOperation) -> Int {
        let field: JSONValue? = switch operation {
        case .chatCompletions: body["messages"]
        case .completions: body["prompt"]
        case .embeddings: body["input"]
        }
        guard let field else { return 0 }
        var characters = 0
        var tokens = 0
        count(field, characters: &characters, tokens: &tokens)
        return tokens + (characters + 2) / 3
    }

    /// Output text (`choices[].message.content` or `choices[].text`) already collected.
    static func completion(characters: Int) -> Int {
        (characters + 3) / 4
    }

    /// Characters of generated text in a whole answer or one streamed chunk.
    static func generatedCharacters(in answer: JSONValue) -> Int {
        generatedCharacters(inChoices: answer["choices"])
    }

    /// The same, given the answer's `choices` member (the fast lane scans only the members it needs).
    static func generatedCharacters(inChoices choices: JSONValue?) -> Int {
        guard case .array(let choices)? = choices else { return 0 }
        var total = 0
        for choice in choices {
            for text in [choice["text"], choice["message"]?["content"], choice["delta"]?["content"]] {
                if let text = text?.stringValue { total += text.utf8.count }
            }
        }
        return total
    }

    private static func count(_ value: JSONValue, characters: inout Int, tokens: inout Int) {
        switch value {
        case .string(let text): characters += text.utf8.count
        case .int: tokens += 1
        case .array(let items): for item in items { count(item, characters: &characters, tokens: &tokens) }
        case .object(let members):
            // A message: its content (text or parts) and its role, with some tokens of framing.
            tokens += 8
            for (key, member) in members where key != "role" { count(member, characters: &characters, tokens: &tokens) }
        default: break
        }
    }
}
