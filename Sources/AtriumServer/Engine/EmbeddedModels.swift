import AtriumML
import Foundation
import Logging

/// A model the embedded engine serves, loaded from `<models dir>/<name>/`.
struct EmbeddedModel: Sendable {
    var name: String
    var engine: EmbeddingEngine
}

/// Finds and loads the models under the models directory. A folder that cannot be served is logged
/// with the file at fault and skipped; the others still serve.
enum EmbeddedModels {
    static func load(config: AtriumConfig, logger: Logger) -> [EmbeddedModel] {
        var settings = EmbeddingEngine.Settings()
        settings.threads = config.engineThreads
        settings.maxQueuedSequences = config.engineMaxQueued
        return load(directory: config.resolvedModelsDirectory, settings: settings, logger: logger)
    }

    static func load(directory: String, settings: EmbeddingEngine.Settings, logger: Logger) -> [EmbeddedModel] {
        let root = URL(fileURLWithPath: directory)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        var models: [EmbeddedModel] = []
        for name in names {
            let folder = root.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            do {
                let embedder = try SentenceEmbedder(folder: folder)
                models.append(EmbeddedModel(name: name, engine: EmbeddingEngine(embedder: embedder, settings: settings)))
                logger.info(
                    "embedded model ready",
                    metadata: ["model": "\(name)", "dimensions": "\(embedder.dimensions)", "max_tokens": "\(embedder.maxSequenceLength)"])
            } catch {
                logger.error("embedded model not served", metadata: ["model": "\(name)", "folder": "\(folder.path)", "error": "\(error)"])
            }
        }
        return models
    }
}
