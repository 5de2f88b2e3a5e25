import AtriumML
import Foundation
import Logging

/// A model the embedded engine serves, loaded from `<models dir>/<name>/`: a sentence embedder (a
/// Hugging Face folder) or a generator (a folder holding one GGUF file).
struct EmbeddedModel: Sendable {
    enum Engine: Sendable {
        case embedding(EmbeddingEngine)
        case generation(GenerativeModel)
    }

    var name: String
    var engine: Engine

    var kind: ModelKind {
        switch engine {
        case .embedding: .embedding
        case .generation: .chat
        }
    }

    func shutdown() {
        switch engine {
        case .embedding(let engine): engine.shutdown()
        case .generation(let model): model.shutdown()
        }
    }
}

/// Finds and loads the models under the models directory. A folder that cannot be served is logged
/// with the file at fault and skipped; the others still serve.
enum EmbeddedModels {
    static func load(config: AtriumConfig, logger: Logger) -> [EmbeddedModel] {
        KernelSet.use(config.engineKernels)
        var settings = EmbeddingEngine.Settings()
        settings.threads = config.engineThreads
        settings.maxQueuedSequences = config.engineMaxQueued
        var generation = GenerationEngine.Settings()
        generation.threads = config.engineThreads
        generation.kvCacheBytes = config.engineKVCacheBytes
        generation.maxRunning = config.engineMaxRunning
        return load(directory: config.resolvedModelsDirectory, settings: settings, generation: generation, logger: logger)
    }

    static func load(
        directory: String, settings: EmbeddingEngine.Settings, generation: GenerationEngine.Settings = .init(), logger: Logger
    ) -> [EmbeddedModel] {
        let root = URL(fileURLWithPath: directory)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
        var models: [EmbeddedModel] = []
        for name in names {
            let folder = root.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            do {
                if let source = try GenerativeModel.source(in: folder) {
                    let model = try GenerativeModel(source: source, settings: generation)
                    models.append(EmbeddedModel(name: name, engine: .generation(model)))
                    logger.info(
                        "embedded model ready",
                        metadata: [
                            "model": "\(name)", "kind": "chat", "context": "\(model.contextLength)",
                            "chat_template": "\(model.hasOwnTemplate ? "the model's" : "ChatML")", "kernels": "\(KernelSet.serving)",
                        ])
                } else {
                    let embedder = try SentenceEmbedder(folder: folder)
                    models.append(EmbeddedModel(name: name, engine: .embedding(EmbeddingEngine(embedder: embedder, settings: settings))))
                    logger.info(
                        "embedded model ready",
                        metadata: ["model": "\(name)", "kind": "embedding", "dimensions": "\(embedder.dimensions)", "max_tokens": "\(embedder.maxSequenceLength)"])
                }
            } catch {
                logger.error("embedded model not served", metadata: ["model": "\(name)", "folder": "\(folder.path)", "error": "\(error)"])
            }
        }
        return models
    }
}
