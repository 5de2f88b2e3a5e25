import Foundation
import NIOCore
import Testing

@testable import AtriumServer

@Suite struct JSONParserTests {
    private func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    @Test func parsesEveryKindOfValue() throws {
        let value = try parse(#" {"a": [1, -2, 3.5, 1e3, true, false, null], "b": {"c": "d\n\u00e9\ud83d\ude00"}, "e": -0} "#)
        #expect(value["a"] == .array([.int(1), .int(-2), .double(3.5), .double(1000), .bool(true), .bool(false), .null]))
        #expect(value["b"]?["c"] == .string("d\né😀"))
        #expect(value["e"] == .int(0))
    }

    @Test func integersBeyondInt64BecomeDoubles() throws {
        #expect(try parse("9223372036854775807") == .int(Int64.max))
        // Every Int64 is exact, the smallest included (a seed of -2^63 is a valid int64).
        #expect(try parse("-9223372036854775808") == .int(Int64.min))
        #expect(try parse("-9223372036854775000") == .int(-9_223_372_036_854_775_000))
        #expect(try parse("9223372036854775808") == .double(9.223372036854775808e18))
        #expect(try parse("-9223372036854775809") == .double(-9.223372036854775809e18))
        #expect(try parse("123456789012345678901234") == .double(1.2345678901234568e23))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "01", "1.", ".5", "-", "1e", "+1", "tru", "nul", "\"abc",
        "\"a\u{01}b\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "[1] 2", "NaN", "Infinity", "1e999",
    ])
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(throws: JSONBodyError.self) { try parse(text) }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: JSONBodyError.self) { try JSONValue.parse([0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: JSONBodyError.self) { try JSONValue.parse([0x22, 0xED, 0xA0, 0x80, 0x22]) }
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONBodyError.self) { try parse(deep) }
        let fine = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: Never.self) { try parse(fine) }
    }

    @Test func serializationRoundTripsAndMatchesFoundation() throws {
        let original = try parse(#"{"text":"quote \" backslash \\ tab \t nl \n ctrl \u0001 é 😀","n":[0,-1,2.25,1e-7],"o":{}}"#)
        let bytes = original.encodedBuffer()
        #expect(try JSONValue.parse(bytes) == original)
        let foundation = try JSONSerialization.jsonObject(with: Data(bytes.readableBytesView)) as? [String: Any]
        #expect(foundation?["text"] as? String == "quote \" backslash \\ tab \t nl \n ctrl \u{01} é 😀")
    }

    @Test func theTopLevelModelIsLocatedAndSplicedInPlace() throws {
        let text = #"{"messages":[{"model":"inner"}], "model" : "public-name","n":1}"#
        let buffer = ByteBuffer(string: text)
        let (value, range) = try JSONValue.parse(buffer, locating: "model")
        let located = try #require(range)
        #expect(String(text.utf8.dropFirst(located.lowerBound).prefix(located.count))! == #""public-name""#)
        let spliced = JSONValue.splice(buffer, replacing: located, with: "org/upstream \"q\"")
        var expected = value
        expected["model"] = .string("org/upstream \"q\"")
        #expect(try JSONValue.parse(spliced) == expected)
        #expect(try JSONValue.parse(ByteBuffer(string: #"{"other":1}"#), locating: "model").range == nil)
    }
}

@Suite struct JSONScanTests {
    @Test func scanningKeepsOnlyTheNamedMembersAndStillChecksTheRest() throws {
        let text = #"{"id":"x","choices":[{"message":{"content":"a \"b\" \u00e9"}}],"model":"up","usage":{"total_tokens":9}}"#
        let members = try JSONValue.scanObject(ByteBuffer(string: text), keep: ["model", "usage"])
        #expect(members.count == 2)
        #expect(members[0]?.value == .string("up"))
        #expect(members[1]?.value["total_tokens"] == .int(9))
        #expect(try JSONValue.scanObject(ByteBuffer(string: text), keep: ["usage", "absent"]).map { $0?.value } == [.object(["total_tokens": .int(9)]), nil])
        for broken in [#"{"a":[1,}"#, #"{"a":"\x"}"#, #"[1]"#, #"{"a":tru}"#, #"{"a":1} x"#, "{\"a\":\"\u{01}\"}"] {
            #expect(throws: JSONBodyError.self) { try JSONValue.scanObject(ByteBuffer(string: broken), keep: ["model"]) }
        }
    }

    /// The fast lane locates the choices and reads only the first one's finish reason.
    @Test func locatedMembersAreCheckedAndTheirFirstElementScanned() throws {
        let text = #"{"choices": [ {"index":0,"message":{"content":"hi"},"finish_reason":"length"}, {"finish_reason":"stop"} ],"model":"up"}"#
        let buffer = ByteBuffer(string: text)
        let (kept, located) = try JSONValue.scanObject(buffer, keep: ["model"], locating: ["choices", "absent"])
        #expect(kept[0]?.value == .string("up"))
        let choices = try #require(located[0])
        #expect(located[1] == nil)
        #expect(String(text.utf8.dropFirst(choices.lowerBound).prefix(choices.count))!.hasPrefix("[ {\"index\""))
        let first = try #require(try JSONValue.scanFirstElement(buffer, at: choices, keep: ["finish_reason", "index"]))
        #expect(first.map { $0?.value } == [.string("length"), .int(0)])
        let reason = try #require(first[0]).range
        #expect(String(text.utf8.dropFirst(reason.lowerBound).prefix(reason.count))! == #""length""#)
        #expect(try JSONValue.parse(buffer, at: choices).arrayValue?.count == 2)
        // An empty array, or a first element that is not an object, has no members to give.
        for other in [#"{"choices":[]}"#, #"{"choices":[1,{"finish_reason":"stop"}]}"#] {
            let buffer = ByteBuffer(string: other)
            let range = try #require(try JSONValue.scanObject(buffer, keep: [], locating: ["choices"]).located[0])
            #expect(try JSONValue.scanFirstElement(buffer, at: range, keep: ["finish_reason"]) == nil)
        }
        // A located member is checked like any other.
        #expect(throws: JSONBodyError.self) { try JSONValue.scanObject(ByteBuffer(string: #"{"choices":[{"a":}]}"#), keep: [], locating: ["choices"]) }
    }

    /// What the gateway skips it forwards as it came: a lone surrogate in a member it does not build is no
    /// reason to refuse the upstream's answer, though building it is (it has no UTF-8 form).
    @Test func skippedMembersAreCheckedForSyntaxOnly() throws {
        let text = #"{"system_fingerprint":"fp \ud800 x","model":"up"}"#
        #expect(try JSONValue.scanObject(ByteBuffer(string: text), keep: ["model"])[0]?.value == .string("up"))
        #expect(throws: JSONBodyError.self) { try JSONValue.scanObject(ByteBuffer(string: text), keep: ["system_fingerprint"]) }
    }
}
