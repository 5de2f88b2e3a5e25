import Foundation
import Testing

@testable import AtriumPersistence

/// UUIDs read from SQLite's text: the same as Foundation's parse in either case, nil for anything else.
@Suite struct UUIDTextTests {
    @Test func readsWhatFoundationReads() {
        for _ in 0..<1_000 {
            let uuid = UUID()
            #expect(UUID(hexText: uuid.uuidString) == uuid)
            #expect(UUID(hexText: uuid.uuidString.lowercased()) == uuid)
        }
        #expect(UUID(hexText: "00000000-0000-0000-0000-000000000000") == UUID(uuidString: "00000000-0000-0000-0000-000000000000"))
        #expect(UUID(hexText: "FFFFFFFF-ffff-FFFF-ffff-FFFFFFFFFFFF") == UUID(uuidString: "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"))
    }

    @Test(arguments: [
        "", "not a uuid", "0000000-0000-0000-0000-0000000000000", "00000000_0000-0000-0000-000000000000",
        "00000000-0000-0000-0000-00000000000g", "00000000-0000-0000-0000-0000000000000", "{00000000-0000-0000-0000-000000000000}",
        "00000000-0000-0000-0000-00000000000é",
    ])
    func refusesAnythingElse(_ text: String) {
        #expect(UUID(hexText: text) == nil)
    }
}
