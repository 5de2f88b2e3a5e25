/// Token counts when an upstream reports none: about four characters of text per token (OpenAI's own
/// rule of thumb), a listed token id per token. Records made from these are marked `estimated`.
enum TokenEstimate {
    /// The prompt of a request: every string in `messages`, `prompt` or `input`.
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
        return tokens + (characters + 3) / 4
    }

    /// Output text (`choices[].message.content` or `choices[].text`) already collected.
    static func completion(characters: Int) -> Int {
        (characters + 3) / 4
    }

    /// Characters of generated text in a whole answer or one streamed chunk.
    static func generatedCharacters(in answer: JSONValue) -> Int {
        guard case .array(let choices)? = answer["choices"] else { return 0 }
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
            // A message: its content (text or parts) and its role, roughly 4 tokens of framing.
            tokens += 4
            for (key, member) in members where key != "role" { count(member, characters: &characters, tokens: &tokens) }
        default: break
        }
    }
}
