import Foundation
import Testing

/// all-MiniLM-L6-v2 and the golden corpus made from it by `tests/golden/make_minilm_golden.py`.
enum MiniLMGolden {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var embedding: String

        var vector: [Float] {
            let data = Data(base64Encoded: embedding)!
            return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
    }

    struct File: Decodable {
        var cases: [Case]
        var dimensions: Int
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let cases: [Case] = {
        let data = try! Data(contentsOf: root.appendingPathComponent("tests/golden/minilm.json"))
        return try! JSONDecoder().decode(File.self, from: data).cases
    }()

    /// The model folder (`scripts/fetch-minilm.sh` puts it there; `ATRIUM_MINILM_DIR` points elsewhere),
    /// or nil with the reason printed. On CI its absence is a failure, not a skip.
    static var folder: URL? {
        let path = ProcessInfo.processInfo.environment["ATRIUM_MINILM_DIR"] ?? root.appendingPathComponent(".cache/models/all-minilm-l6-v2").path
        if FileManager.default.fileExists(atPath: path + "/model.safetensors") { return URL(fileURLWithPath: path) }
        if ProcessInfo.processInfo.environment["CI"] != nil { Issue.record("all-MiniLM-L6-v2 is not at \(path): scripts/fetch-minilm.sh fetches it") }
        print("note: the MiniLM tests are not run: all-MiniLM-L6-v2 is not at \(path) (scripts/fetch-minilm.sh fetches it)")
        return nil
    }
}
