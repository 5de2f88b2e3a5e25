import Foundation

/// The safetensors files of a Hugging Face model folder as one set of tensors: `model.safetensors`,
/// or the shards that `model.safetensors.index.json` names. Each file stays mapped while the set lives.
struct SafeTensorsFolder {
    let files: [SafeTensors]
    private let fileOf: [String: SafeTensors]

    init(folder: URL) throws {
        let index = folder.appendingPathComponent("model.safetensors.index.json")
        var names: [String]
        if let object = try JSONFile.object(at: index, required: false) {
            guard let map = object["weight_map"] as? [String: String] else { throw ModelLoadError(index.lastPathComponent, "has no weight_map") }
            names = Array(Set(map.values)).sorted()
            guard names.allSatisfy({ !$0.contains("/") && $0.hasSuffix(".safetensors") }) else {
                throw ModelLoadError(index.lastPathComponent, "names a shard outside the folder")
            }
        } else {
            names = ["model.safetensors"]
        }
        var fileOf: [String: SafeTensors] = [:]
        files = try names.map { try SafeTensors(path: folder.appendingPathComponent($0).path) }
        for file in files {
            for name in file.entries.keys {
                guard fileOf[name] == nil else {
                    throw ModelLoadError((file.path as NSString).lastPathComponent, "holds tensor \(name), which another shard holds too")
                }
                fileOf[name] = file
            }
        }
        self.fileOf = fileOf
    }

    func contains(_ name: String) -> Bool { fileOf[name] != nil }

    private func file(of name: String) throws -> SafeTensors {
        guard let file = fileOf[name] else { throw ModelLoadError(fileName(of: name), "has no tensor \(name)") }
        return file
    }

    /// The name of the file that holds tensor `name`.
    func fileName(of name: String) -> String {
        ((fileOf[name] ?? files.first)?.path as NSString?)?.lastPathComponent ?? "model.safetensors"
    }

    func bytes(_ name: String, shape: [Int]) throws -> (entry: SafeTensors.Entry, data: UnsafeRawPointer) {
        try file(of: name).bytes(name, shape: shape)
    }

    func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try file(of: name).tensor(name, shape: shape)
    }
}
