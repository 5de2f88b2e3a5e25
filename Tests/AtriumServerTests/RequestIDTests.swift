import Testing

@testable import AtriumServer

@Suite struct RequestIDTests {
    @Test func newIDsShareTheProcessPrefixAndCountUp() {
        let first = RequestIDGenerator.id(clientSent: nil)
        let second = RequestIDGenerator.id(clientSent: nil)
        for id in [first, second] {
            #expect(id.hasPrefix("req_") && id.utf8.count == 28)
            #expect(id.utf8.dropFirst(4).allSatisfy { ("0"..."9").contains(Character(UnicodeScalar($0))) || ("a"..."z").contains(Character(UnicodeScalar($0))) })
        }
        #expect(first != second && first.prefix(16) == second.prefix(16))
    }

    @Test func aSaneClientIDIsKeptAndAnyOtherReplaced() {
        #expect(RequestIDGenerator.id(clientSent: "client-id_42") == "client-id_42")
        for odd in ["", "has space", "line\r\nbreak", String(repeating: "x", count: 129)] {
            #expect(RequestIDGenerator.id(clientSent: odd).hasPrefix("req_"))
        }
    }
}
