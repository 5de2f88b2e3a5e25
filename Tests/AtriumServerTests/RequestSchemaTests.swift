import AtriumCore
import Testing

@testable import AtriumServer

@Suite struct RequestSchemaTests {
    private func body(_ json: String) throws -> JSONValue { try JSONValue.parse(Array(json.utf8)) }

    private func param(of json: String, _ schema: RequestSchema = OpenAISchemas.chatCompletions) throws -> String? {
        do {
            try schema.validate(try body(json))
            try OpenAISchemas.checkMessages(try body(json))
            return nil
        } catch AtriumError.invalidRequest(_, let param, _) {
            return param ?? "<none>"
        }
    }

    /// Several problems: the one reported is the first in key order, however the body's members are
    /// stored (a valid body is checked in storage order, a faulty one again in key order).
    @Test func ofSeveralProblemsTheFirstInKeyOrderIsReported() throws {
        let extras = (0..<20).map { #""zz_unknown_\#($0)":1"# }.joined(separator: ",")
        let json = #"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot","max_tokens":-1,"#
            + extras + #","aa_unknown":1}"#
        #expect(try param(of: json) == "aa_unknown")
        let withoutFirst = json.replacingOccurrences(of: #","aa_unknown":1"#, with: "")
        #expect(try param(of: withoutFirst) == "max_tokens")
    }

    @Test func aValidChatRequestPasses() throws {
        #expect(try param(of: #"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"stop":["a"],"max_tokens":5}"#) == nil)
    }

    @Test(arguments: [
        (#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (#"{"model":"m"}"#, "messages"),
        (#"{"model":"m","messages":[]}"#, "messages"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, "temperature"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#, "temperature"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#, "max_tokens"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}"#, "max_tokens"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#, "stream"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}"#, "stop"),
        (#"{"model":"m","messages":[{"role":"user","content":"x"}],"frobnicate":1}"#, "frobnicate"),
        (#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#, "messages[0].role"),
        (#"{"model":"m","messages":[{"content":"x"}]}"#, "messages[0].role"),
        (#"{"model":"m","messages":[{"role":"user","content":5}]}"#, "messages[0].content"),
        (#"{"model":42,"messages":[{"role":"user","content":"x"}]}"#, "model"),
    ])
    func invalidChatRequestsNameTheParameter(_ json: String, _ expected: String) throws {
        #expect(try param(of: json) == expected)
    }

    @Test func aBodyThatIsNotAnObjectIsRefused() throws {
        #expect(try param(of: #"[{"model":"m"}]"#) == "<none>")
    }

    @Test(arguments: [
        (#"{"model":"e","input":""}"#, "input"),
        (#"{"model":"e","input":[]}"#, "input"),
        (#"{"model":"e","input":[1,"a"]}"#, "input"),
        (#"{"model":"e","input":"x","encoding_format":"hex"}"#, "encoding_format"),
    ])
    func invalidEmbeddingRequestsNameTheParameter(_ json: String, _ expected: String) throws {
        #expect(try param(of: json, OpenAISchemas.embeddings)?.hasPrefix(expected) == true)
    }

    @Test func completionPromptsAcceptTokenArrays() throws {
        #expect(try param(of: #"{"model":"m","prompt":[[1,2],[3]]}"#, OpenAISchemas.completions) == nil)
        #expect(try param(of: #"{"model":"m","prompt":{"a":1}}"#, OpenAISchemas.completions) == "prompt")
        // An empty list is no prompt (schemathesis found it accepted, against the contract).
        #expect(try param(of: #"{"model":"m","prompt":[]}"#, OpenAISchemas.completions) == "prompt")
        #expect(try param(of: #"{"model":"m","prompt":[[1],[]]}"#, OpenAISchemas.completions)?.hasPrefix("prompt") == true)
        #expect(try param(of: #"{"model":"m","prompt":["a"]}"#, OpenAISchemas.completions) == nil)
    }

    @Test func invalidUTF8IsUnparsable() {
        #expect(throws: JSONBodyError.self) { try JSONValue.parse([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]) }
    }
}
