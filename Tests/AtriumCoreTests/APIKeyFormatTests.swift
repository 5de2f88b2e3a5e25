import Testing

@testable import AtriumCore

@Suite struct APIKeyFormatTests {
    @Test func generatedKeysAreWellFormedAndDistinct() {
        let keys = (0..<200).map { _ in APIKeyFormat.generate() }
        #expect(Set(keys).count == keys.count)
        for key in keys {
            #expect(key.hasPrefix("atr_"))
            #expect(key.count == APIKeyFormat.totalLength)
            #expect(APIKeyFormat.isWellFormed(key))
        }
    }

    @Test func aSingleChangedCharacterFailsTheChecksum() {
        let key = APIKeyFormat.generate()
        var characters = Array(key)
        let index = 10
        characters[index] = characters[index] == "a" ? "b" : "a"
        #expect(!APIKeyFormat.isWellFormed(String(characters)))
    }

    @Test(arguments: ["", "atr_", "sk-abc", "atr_short", String(repeating: "a", count: 42), "atr_" + String(repeating: "é", count: 38)])
    func malformedCandidatesAreRejected(_ candidate: String) {
        #expect(!APIKeyFormat.isWellFormed(candidate))
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func secretsAreHashedWithSHA256() {
        #expect(Secrets.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func maskedFormHidesTheMiddle() {
        let key = APIKeyFormat.generate()
        let masked = APIKeyFormat.masked(key)
        #expect(masked.hasPrefix(String(key.prefix(8))))
        #expect(masked.hasSuffix(String(key.suffix(4))))
        #expect(!masked.contains(String(key.dropFirst(8).dropLast(4))))
    }
}
