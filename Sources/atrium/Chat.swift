import ArgumentParser
import AtriumML
import AtriumServer
import AtriumTemplates
import Foundation

/// A conversation with an embedded chat model on the command line: each line you type is a turn, and
/// the answer streams as it is generated. In-process: no server is needed.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with an embedded model in the terminal (type /reset to start over, /exit or Ctrl-D to leave).")

    @OptionGroup var options: CommonOptions
    @Option(help: "An imported chat model's name (see `atrium models list`).") var model = "smollm2-135m-instruct"
    @Option(help: "A system message to start the conversation with.") var system: String?
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Float = 0.7
    @Option(help: "Tokens to generate at most per answer.") var maxTokens = 512
    @Option(help: "A seed, for answers that repeat.") var seed: UInt64?

    func validate() throws {
        guard (0...2).contains(temperature) else { throw ValidationError("--temperature must be between 0 and 2.") }
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be at least 1.") }
    }

    func run() async throws {
        let config = try await options.load()
        let folder = URL(fileURLWithPath: config.resolvedModelsDirectory).appendingPathComponent(model)
        let generator: GenerativeModel
        do {
            guard let source = try GenerativeModel.source(in: folder) else {
                throw ValidationError("\(model) is not an imported chat model (\(folder.path) holds neither a GGUF file nor a causal language model); see `atrium models list`.")
            }
            var settings = GenerationEngine.Settings()
            settings.threads = config.engineThreads
            generator = try GenerativeModel(source: source, settings: settings)
        } catch let error as ModelLoadError {
            throw ValidationError("Cannot load \(model): \(error)")
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
            throw ValidationError("\(model) is not imported (there is no \(folder.path)); see `atrium models list`.")
        }
        defer { generator.shutdown() }
        let interactive = isatty(STDIN_FILENO) == 1
        var messages: [TemplateValue] = system.map { [Self.message("system", $0)] } ?? []
        if interactive { Self.show("Chatting with \(model). /reset starts over, /exit or Ctrl-D leaves.\n") }
        while true {
            if interactive { Self.show("> ") }
            guard let line = readLine() else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/exit" || text == "/quit" { break }
            if text == "/reset" {
                messages = system.map { [Self.message("system", $0)] } ?? []
                Self.show("(a new conversation)\n")
                continue
            }
            messages.append(Self.message("user", text))
            let answer = try await reply(generator, messages: messages)
            messages.append(Self.message("assistant", answer))
        }
    }

    /// Streams one answer to standard output and returns its text.
    private func reply(_ generator: GenerativeModel, messages: [TemplateValue]) async throws -> String {
        let prompt = try generator.chatPrompt(messages: messages)
        guard prompt.count < generator.contextLength else {
            throw ValidationError("The conversation has outgrown the model's context of \(generator.contextLength) tokens; type /reset to start over.")
        }
        var sampling = SamplingParameters()
        sampling.temperature = temperature
        sampling.seed = seed
        let request = GenerationEngine.Request(
            prompt: prompt, sampling: sampling, maxTokens: min(maxTokens, generator.contextLength - prompt.count), stopTokens: generator.stopTokens)
        var answer = ""
        for try await event in try generator.engine.generate(request) {
            let piece: String
            switch event {
            case .token(_, let text): piece = text
            case .finished(_, let text, _, _): piece = text
            case .prompt: piece = ""
            }
            answer += piece
            Self.show(piece)
        }
        Self.show("\n")
        return answer
    }

    /// Writes at once, unbuffered, so tokens appear as they come.
    static func show(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func message(_ role: String, _ content: String) -> TemplateValue {
        ["role": .string(role), "content": .string(content)]
    }
}
