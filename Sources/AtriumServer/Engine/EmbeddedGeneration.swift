import AtriumCore
import AtriumML
import Foundation

/// Chat and text completions from a model of the embedded engine, in OpenAI's shapes, whole or
/// streamed. Each choice is one request to the engine, which batches them with everything else running.
struct EmbeddedGeneration: Sendable {
    let name: String
    let model: GenerativeModel

    /// One choice's engine request and where its answer goes.
    struct Choice: Sendable {
        var index: Int
        var prompt: Int
        var events: AsyncThrowingStream<GenerationEngine.Event, any Error>
    }

    func perform(_ request: ProviderRequest) async throws -> ProviderResponse {
        let parsed = try GenerationRequest(request.body, operation: request.operation, model: model)
        let choices = try start(parsed)
        let format = GenerationFormat(
            shape: parsed.shape, model: name, tokenizer: model.tokenizer, logprobs: parsed.logprobs,
            echoed: parsed.echo ? parsed.prompts : nil)
        let promptTokens = parsed.prompts.reduce(0) { $0 + $1.count }
        if request.stream {
            return .stream(stream(choices, format: format, promptTokens: promptTokens, includeUsage: request.body["stream_options"]?["include_usage"]?.boolValue == true))
        }
        return .complete(try await complete(choices, format: format, promptTokens: promptTokens))
    }

    /// Hands every choice to the engine; a full engine refuses the whole request before any of it runs.
    private func start(_ parsed: GenerationRequest) throws -> [Choice] {
        var choices: [Choice] = []
        do {
            for (promptIndex, prompt) in parsed.prompts.enumerated() {
                for copy in 0..<parsed.n {
                    var sampling = parsed.sampling
                    // The choices of one request differ from each other, and stay reproducible under a seed.
                    if let seed = sampling.seed { sampling.seed = seed &+ UInt64(copy) }
                    let engineRequest = GenerationEngine.Request(
                        prompt: prompt, sampling: sampling, maxTokens: parsed.maxTokens, stops: parsed.stops, stopTokens: model.stopTokens,
                        promptLogprobs: parsed.promptLogprobs)
                    choices.append(Choice(index: promptIndex * parsed.n + copy, prompt: promptIndex, events: try model.engine.generate(engineRequest)))
                }
            }
        } catch let failure as GenerationEngine.Failure {
            // Dropping the streams already made cancels their work.
            choices.removeAll()
            switch failure {
            case .overloaded(let limit):
                throw AtriumError.rateLimited(
                    "The embedded engine is busy (\(limit) requests waiting for `\(name)`). Please retry shortly.", retryAfterSeconds: 1,
                    code: "engine_overloaded")
            case .stopped:
                throw AtriumError.serviceUnavailable("The embedded engine is shutting down. Please retry shortly.")
            case .emptyRequest:
                throw AtriumError.invalidRequest(
                    "The \(parsed.shape == .chat ? "messages" : "prompt") made no token to start from.", param: parsed.shape == .chat ? "messages" : "prompt")
            case .tooLarge(let positions, let budget):
                throw AtriumError.invalidRequest(
                    "This request needs \(positions) positions of the engine's key/value cache, which holds \(budget) in all.",
                    param: parsed.shape == .chat ? "messages" : "prompt", code: "context_length_exceeded")
            }
        }
        return choices
    }

    private func complete(_ choices: [Choice], format: GenerationFormat, promptTokens: Int) async throws -> JSONValue {
        let results = try await withThrowingTaskGroup(of: (Int, GenerationFormat.Collected).self) { group in
            for choice in choices {
                group.addTask {
                    var collected = GenerationFormat.Collected(prompt: choice.prompt)
                    for try await event in choice.events { collected.take(event) }
                    return (choice.index, collected)
                }
            }
            var results = [GenerationFormat.Collected?](repeating: nil, count: choices.count)
            do {
                for try await (index, collected) in group { results[index] = collected }
            } catch GenerationEngine.Failure.stopped {
                throw AtriumError.serviceUnavailable("The embedded engine is shutting down. Please retry shortly.")
            }
            return results.compactMap { $0 }
        }
        return format.response(results, promptTokens: promptTokens)
    }

    private func stream(_ choices: [Choice], format: GenerationFormat, promptTokens: Int, includeUsage: Bool) -> ProviderStream {
        let (chunks, output) = AsyncThrowingStream.makeStream(of: JSONValue.self, throwing: (any Error).self)
        let work = Task {
            do {
                let completionTokens = try await withThrowingTaskGroup(of: Int.self) { group in
                    for choice in choices {
                        group.addTask {
                            // A scored prompt opens its choice when its scores come (the first event).
                            if !format.scoresPrompt { output.yield(format.opening(choice: choice.index, prompt: choice.prompt, scores: nil)) }
                            var state = GenerationFormat.StreamState()
                            for try await event in choice.events {
                                if case .prompt(let scores) = event {
                                    output.yield(format.opening(choice: choice.index, prompt: choice.prompt, scores: scores))
                                } else if let chunk = format.chunk(for: event, choice: choice.index, state: &state) {
                                    output.yield(chunk)
                                }
                            }
                            return state.generatedTokens
                        }
                    }
                    return try await group.reduce(0, +)
                }
                if includeUsage { output.yield(format.usageChunk(promptTokens: promptTokens, completionTokens: completionTokens)) }
                // Cancelled (the client left): the engine's streams end quietly, but this one must not look
                // complete. The usage above still counts what was generated until then.
                output.finish(throwing: Task.isCancelled ? CancellationError() : nil)
            } catch is CancellationError {
                output.finish(throwing: CancellationError())
            } catch {
                output.finish(throwing: ProviderFailure(.upstreamStatus(503), "the embedded engine stopped: \(error)"))
            }
        }
        output.onTermination = { _ in work.cancel() }
        return ProviderStream(chunks: chunks, cancel: { work.cancel() })
    }
}
