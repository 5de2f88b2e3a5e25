import Foundation
import Testing

@testable import AtriumML

@Suite struct TokenizerTests {
    @Test func idsMatchHuggingFaceTokenizersOnTheGoldenCorpus() throws {
        guard let folder = MiniLMGolden.folder else { return }
        let tokenizer = try TokenizerLoader.load(folder: folder)
        #expect(MiniLMGolden.cases.count >= 1000)
        var mismatches: [String] = []
        for golden in MiniLMGolden.cases {
            let ids = tokenizer.encode(golden.text, addSpecialTokens: true, maxLength: 256)
            if ids != golden.ids { mismatches.append("\(golden.text.debugDescription.prefix(80)): \(ids.prefix(12)) vs \(golden.ids.prefix(12))") }
        }
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("atrium-tokenizer-mismatches.txt")
        if !mismatches.isEmpty { try mismatches.joined(separator: "\n").write(to: report, atomically: true, encoding: .utf8) }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(MiniLMGolden.cases.count) differ (all in \(report.path)); the first: \(mismatches.first ?? "")")
    }

    @Test func vocabTxtAloneGivesTheSameIds() throws {
        guard let folder = MiniLMGolden.folder else { return }
        let vocabOnly = FileManager.default.temporaryDirectory.appendingPathComponent("vocab-only-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: vocabOnly, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: vocabOnly) }
        try FileManager.default.copyItem(at: folder.appendingPathComponent("vocab.txt"), to: vocabOnly.appendingPathComponent("vocab.txt"))
        let tokenizer = try TokenizerLoader.load(folder: vocabOnly)
        for golden in MiniLMGolden.cases.prefix(400) {
            #expect(tokenizer.encode(golden.text, addSpecialTokens: true, maxLength: 256) == golden.ids, "\(golden.text.debugDescription)")
        }
    }

    @Test func knownIds() throws {
        guard let folder = MiniLMGolden.folder else { return }
        let tokenizer = try TokenizerLoader.load(folder: folder)
        #expect(tokenizer.encode("hello world", addSpecialTokens: true, maxLength: nil) == [101, 7592, 2088, 102])
        #expect(tokenizer.encode("hello world", addSpecialTokens: false, maxLength: nil) == [7592, 2088])
        // Cut to the limit with the special tokens kept.
        let long = tokenizer.encode(String(repeating: "hello ", count: 50), addSpecialTokens: true, maxLength: 10)
        #expect(long == [101] + Array(repeating: 7592, count: 8) + [102])
    }

    @Test func aBrokenTokenizerFileNamesItsProblem() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("broken-tokenizer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: ModelLoadError("broken-tokenizer-" + folder.lastPathComponent.dropFirst("broken-tokenizer-".count), "has neither tokenizer.json nor vocab.txt")) {
            try TokenizerLoader.load(folder: folder)
        }
        try Data("{not json".utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        #expect { try TokenizerLoader.load(folder: folder) } throws: { ($0 as? ModelLoadError)?.file == "tokenizer.json" }
        try Data(#"{"model":{"type":"BPE","vocab":{},"merges":[]}}"#.utf8).write(to: folder.appendingPathComponent("tokenizer.json"))
        #expect { try TokenizerLoader.load(folder: folder) } throws: { "\($0)".contains("BPE") }
    }
}
