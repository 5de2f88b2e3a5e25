import Foundation

/// Puts a model into the engine's models directory, as `<models>/<name>/`: a Hugging Face-layout
/// folder, or a GGUF file (which becomes a folder holding it). The model is checked by loading it
/// first (so a broken one is refused with the file at fault), then copied into a temporary folder
/// beside the destination and renamed into place, so a half-copied model is never served.
public enum ModelImporter {
    /// Files and folders of other runtimes that the engine never reads.
    static let skipped: Set<String> = [".git", "onnx", "openvino", "pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "rust_model.ot"]

    public static func validName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && !name.hasPrefix(".")
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) }
    }

    /// A model name made from a folder or repository name: lowercased, other characters as `-`.
    public static func defaultName(for source: String) -> String {
        let last = source.split(separator: "/").last.map(String.init) ?? source
        let name = String(last.lowercased().unicodeScalars.map { validName(String($0)) ? Character($0) : "-" })
        return String(name.drop { $0 == "." || $0 == "-" }.prefix(64))
    }

    /// Imports `source` as `name`; `progress` hears bytes copied and bytes in all. Returns the new folder.
    @discardableResult
    public static func importFolder(
        _ source: URL, into modelsDirectory: URL, name: String, replace: Bool = false, progress: (Int64, Int64) -> Void = { _, _ in }
    ) throws -> URL {
        let destination = try destination(of: name, in: modelsDirectory, replace: replace)
        try check(source)
        let files = try self.files(in: source)
        return try copyIn(files.map { (source.appendingPathComponent($0), $0) }, into: modelsDirectory, name: name, at: destination, progress: progress)
    }

    /// Imports a GGUF file as `name`: a folder holding it as `model.gguf`.
    @discardableResult
    public static func importGGUF(
        _ file: URL, into modelsDirectory: URL, name: String, replace: Bool = false, progress: (Int64, Int64) -> Void = { _, _ in }
    ) throws -> URL {
        let destination = try destination(of: name, in: modelsDirectory, replace: replace)
        try GenerativeModel.check(file: file.path)
        return try copyIn([(file, "model.gguf")], into: modelsDirectory, name: name, at: destination, progress: progress)
    }

    /// Checks that a model folder loads as the engine serves it: a generator where it holds a GGUF
    /// file or a Hugging Face causal language model, a sentence embedder otherwise.
    public static func check(_ folder: URL) throws {
        if let source = try GenerativeModel.source(in: folder) {
            try GenerativeModel.check(source)
        } else {
            _ = try SentenceEmbedder(folder: folder)
        }
    }

    private static func copyIn(
        _ files: [(source: URL, path: String)], into modelsDirectory: URL, name: String, at destination: URL, progress: (Int64, Int64) -> Void
    ) throws -> URL {
        let manager = FileManager.default
        let total = try files.reduce(Int64(0)) { $0 + Int64(try manager.attributesOfItem(atPath: $1.source.path)[.size] as? Int ?? 0) }
        let staging = try makeStaging(for: name, in: modelsDirectory)
        defer { try? manager.removeItem(at: staging) }
        var copied: Int64 = 0
        progress(0, total)
        for file in files {
            let target = staging.appendingPathComponent(file.path)
            try manager.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try copy(file.source, to: target) { bytes in
                copied += bytes
                progress(copied, total)
            }
        }
        try install(staging, at: destination)
        return destination
    }

    /// Where `name` goes; refused when the name is unusable, or taken and not to be replaced.
    public static func destination(of name: String, in modelsDirectory: URL, replace: Bool) throws -> URL {
        guard validName(name) else {
            throw ModelLoadError(name, "is not a usable model name: use up to 64 lowercase letters, digits, dots, dashes and underscores")
        }
        let destination = modelsDirectory.appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: destination.path) && !replace {
            throw ModelLoadError(name, "is already imported (at \(destination.path)); give another name or replace it")
        }
        return destination
    }

    /// A fresh folder beside the models, which the engine never loads (its name starts with a dot).
    public static func makeStaging(for name: String, in modelsDirectory: URL) throws -> URL {
        let staging = modelsDirectory.appendingPathComponent(".importing-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        return staging
    }

    /// Checks that a staged folder loads, then renames it into place (replacing what was there).
    public static func install(_ staging: URL, at destination: URL) throws {
        try check(staging)
        let manager = FileManager.default
        if manager.fileExists(atPath: destination.path) { try manager.removeItem(at: destination) }
        try manager.moveItem(at: staging, to: destination)
    }

    /// Whether a file of a model folder (a path relative to it) is one the engine may read.
    public static func wanted(_ path: String) -> Bool {
        !path.split(separator: "/").contains { skipped.contains(String($0)) || $0.hasPrefix(".") }
            && !path.hasSuffix(".onnx") && !path.hasSuffix(".bin") && !path.hasSuffix(".h5") && !path.hasSuffix(".msgpack") && !path.hasSuffix(".ot")
    }

    /// Paths of the files to copy, relative to the folder.
    static func files(in folder: URL) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: folder.path) else { throw ModelLoadError(folder.lastPathComponent, "cannot be read") }
        var files: [String] = []
        while let path = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.appendingPathComponent(path).path, isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                if !wanted(path) { walker.skipDescendants() }
            } else if wanted(path) {
                files.append(path)
            }
        }
        return files.sorted()
    }

    private static func copy(_ source: URL, to target: URL, progress: (Int64) -> Void) throws {
        guard let input = InputStream(url: source), let output = OutputStream(url: target, append: false) else {
            throw ModelLoadError(source.lastPathComponent, "cannot be copied")
        }
        input.open()
        output.open()
        defer {
            input.close()
            output.close()
        }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let read = input.read(&buffer, maxLength: buffer.count)
            if read < 0 { throw ModelLoadError(source.lastPathComponent, "could not be read while copying") }
            if read == 0 { break }
            var written = 0
            while written < read {
                let count = buffer[written..<read].withUnsafeBufferPointer { output.write($0.baseAddress!, maxLength: read - written) }
                if count <= 0 { throw ModelLoadError(target.lastPathComponent, "could not be written (is the disk full?)") }
                written += count
            }
            progress(Int64(read))
        }
    }
}
