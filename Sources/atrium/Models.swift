import ArgumentParser
import AtriumML
import AtriumServer
import Foundation

struct Models: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Models the embedded engine serves (under <data-dir>/models).", subcommands: [Import.self, Pull.self, List.self, Bench.self, BenchGenerate.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import a GGUF file (a chat model) or a Hugging Face-layout model folder (config.json, model.safetensors, tokenizer.json, …).")

        @OptionGroup var options: CommonOptions
        @Argument(help: "The GGUF file or model folder.") var folder: String
        @Option(help: "The name clients call it by (default: the folder's name).") var name: String?
        @Flag(help: "Replace a model already imported under that name.") var replace = false
        @Flag(name: .customLong("if-missing"), help: "Do nothing when a model of that name is already imported.") var ifMissing = false

        func run() async throws {
            let config = try await options.load()
            let source = URL(fileURLWithPath: folder)
            let isGGUF = folder.hasSuffix(".gguf")
            let name = name ?? ModelImporter.defaultName(for: isGGUF ? source.deletingPathExtension().path : source.standardizedFileURL.path)
            let models = URL(fileURLWithPath: config.resolvedModelsDirectory)
            if ifMissing && FileManager.default.fileExists(atPath: models.appendingPathComponent(name).path) {
                print("\(name) is already imported.")
                return
            }
            let bar = ProgressBar(label: "importing \(name)")
            do {
                let destination = isGGUF
                    ? try ModelImporter.importGGUF(source, into: models, name: name, replace: replace, progress: bar.update)
                    : try ModelImporter.importFolder(source, into: models, name: name, replace: replace, progress: bar.update)
                bar.finish()
                let endpoint = isGGUF ? "/v1/chat/completions and /v1/completions" : "/v1/embeddings"
                print("Imported \(name) into \(destination.path); `atrium serve` serves it at \(endpoint) as \"\(name)\".")
            } catch let error as ModelLoadError {
                bar.finish()
                throw ValidationError("Cannot import \(folder): \(error)")
            }
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a model from a Hugging Face-compatible hub and import it (HF_TOKEN for private repositories).")

        @OptionGroup var options: CommonOptions
        @Argument(help: "The repository, e.g. sentence-transformers/all-MiniLM-L6-v2.") var repo: String
        @Option(help: "The hub.") var endpoint = "https://huggingface.co"
        @Option(help: "A branch, tag or commit.") var revision = "main"
        @Option(help: "The name clients call it by (default: the repository's name, lowercased).") var name: String?
        @Flag(help: "Replace a model already imported under that name.") var replace = false

        func run() async throws {
            let config = try await options.load()
            let name = name ?? ModelImporter.defaultName(for: repo)
            let bar = ProgressBar(label: "pulling \(name)")
            do {
                let destination = try await ModelHub.pull(
                    repo: repo, revision: revision, endpoint: endpoint, token: ProcessInfo.processInfo.environment["HF_TOKEN"],
                    into: URL(fileURLWithPath: config.resolvedModelsDirectory), name: name, replace: replace, progress: { bar.update($0, $1) })
                bar.finish()
                print("Pulled \(repo) into \(destination.path); `atrium serve` serves it as \"\(name)\".")
            } catch let error as ModelHub.Failure {
                bar.finish()
                throw ValidationError("Cannot pull \(repo): \(error)")
            } catch let error as ModelLoadError {
                bar.finish()
                throw ValidationError("Cannot pull \(repo): \(error)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the imported models and whether each loads.")

        @OptionGroup var options: CommonOptions

        func run() async throws {
            let config = try await options.load()
            let directory = URL(fileURLWithPath: config.resolvedModelsDirectory)
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            if names.isEmpty { print("No models in \(directory.path); import one with `atrium models import <folder>`.") }
            for name in names {
                let folder = directory.appendingPathComponent(name)
                do {
                    if let source = try GenerativeModel.source(in: folder) {
                        let config = try GenerativeModel.check(source)
                        print("\(name)\tchat\t\(config.layers) layers, \(config.hiddenSize) wide\tcontext \(config.contextLength) tokens")
                    } else {
                        let embedder = try SentenceEmbedder(folder: folder)
                        print("\(name)\tembedding\t\(embedder.dimensions) dimensions\tup to \(embedder.maxSequenceLength) tokens")
                    }
                } catch {
                    print("\(name)\tnot served\t\(error)")
                }
            }
        }
    }
}

extension Models {
    struct Bench: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Measure an embedding model's speed on this machine: sentences per second at a batch size, in-process.")

        @OptionGroup var options: CommonOptions
        @Argument(help: "An imported model's name, or a model folder.") var model: String
        @Option(help: "A file of sentences, one a line.") var texts: String
        @Option(help: "Sentences per call.") var batch = 1
        @Option(help: "Seconds to measure (after one warm-up pass).") var seconds = 10.0
        @Option(help: "Cores to use (default: all).") var threads: Int?

        func run() async throws {
            let config = try await options.load()
            var folder = URL(fileURLWithPath: config.resolvedModelsDirectory).appendingPathComponent(model)
            if !FileManager.default.fileExists(atPath: folder.path) { folder = URL(fileURLWithPath: model) }
            let sentences = try String(contentsOfFile: texts, encoding: .utf8).split(separator: "\n").map(String.init)
            guard !sentences.isEmpty, batch > 0 else { throw ValidationError("Give a file of sentences and a batch size of at least 1.") }
            var settings = EmbeddingEngine.Settings()
            settings.batchWindow = .zero
            if let threads { settings.threads = threads }
            let engine: EmbeddingEngine
            do {
                engine = EmbeddingEngine(embedder: try SentenceEmbedder(folder: folder), settings: settings)
            } catch let error as ModelLoadError {
                throw ValidationError("Cannot load \(model): \(error)")
            }
            defer { engine.shutdown() }
            // Tokenizing is part of serving, so it is timed too.
            let batches = stride(from: 0, to: sentences.count, by: batch).map { Array(sentences[$0..<min($0 + batch, sentences.count)]) }
            for texts in batches { _ = try await engine.embed(texts.map(engine.embedder.tokenize)) }
            var embedded = 0
            let start = ContinuousClock.now
            measuring: while true {
                for texts in batches {
                    _ = try await engine.embed(texts.map(engine.embedder.tokenize))
                    embedded += texts.count
                    if ContinuousClock.now - start > .seconds(seconds) { break measuring }
                }
            }
            let elapsed = ContinuousClock.now - start
            let perSecond = Double(embedded) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
            print(String(format: "%.1f", perSecond))
        }
    }
}

/// A progress bar on standard error: redrawn in place on a terminal, a line every 10% otherwise.
final class ProgressBar: @unchecked Sendable {
    let label: String
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastShown = -1

    init(label: String) {
        self.label = label
    }

    func update(_ done: Int64, _ total: Int64) {
        let percent = total > 0 ? Int(done * 100 / total) : 100
        guard percent != lastShown, isTerminal || percent / 10 != lastShown / 10 || lastShown < 0 else { return }
        lastShown = percent
        let width = 30
        let filled = width * percent / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = "\(label) [\(bar)] \(percent)% \(Self.megabytes(done))/\(Self.megabytes(total)) MB"
        FileHandle.standardError.write(Data((isTerminal ? "\r\(line)" : "\(line)\n").utf8))
    }

    func finish() {
        if isTerminal && lastShown >= 0 { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    private static func megabytes(_ bytes: Int64) -> String { String(format: "%.1f", Double(bytes) / 1_000_000) }
}
