import Foundation
import Testing

@testable import AtriumML

@Suite struct SamplerTests {
    static let logits: [Float] = [2.0, 1.0, 0.5, -1.0, 0.0]

    @Test func temperatureZeroIsGreedyAndLogprobsAreTheModels() {
        var parameters = SamplingParameters()
        parameters.temperature = 0
        parameters.topLogprobs = 3
        var sampler = Sampler(parameters)
        let chosen = sampler.next(Self.logits)
        let expected = Sampler.logSoftmax(Self.logits)
        #expect(chosen.token == 0 && chosen.logprob == expected[0])
        #expect(chosen.top.map(\.token) == [0, 1, 2] && chosen.top.map(\.logprob) == [expected[0], expected[1], expected[2]])
        #expect(abs(expected.reduce(0.0) { $0 + exp(Double($1)) } - 1) < 1e-6)
    }

    @Test func theSameSeedGivesTheSameTokens() {
        var parameters = SamplingParameters()
        parameters.seed = 42
        var a = Sampler(parameters), b = Sampler(parameters)
        let first = (0..<50).map { _ in a.next(Self.logits).token }
        #expect(first == (0..<50).map { _ in b.next(Self.logits).token })
        parameters.seed = 43
        var c = Sampler(parameters)
        #expect(first != (0..<50).map { _ in c.next(Self.logits).token })
    }

    /// Draws follow softmax(logits / T): 40,000 seeded draws within 1.5% of each probability.
    @Test func drawsFollowTheTemperedDistribution() {
        for temperature: Float in [1, 0.5, 2] {
            var parameters = SamplingParameters()
            parameters.seed = 7
            parameters.temperature = temperature
            var sampler = Sampler(parameters)
            var counts = [Int](repeating: 0, count: Self.logits.count)
            // Penalties would change the distribution as tokens repeat; none are set here.
            for _ in 0..<40_000 { counts[sampler.next(Self.logits).token] += 1 }
            let weights = Self.logits.map { exp(Double($0 / temperature)) }
            for (count, weight) in zip(counts, weights) {
                #expect(abs(Double(count) / 40_000 - weight / weights.reduce(0, +)) < 0.015, "T=\(temperature)")
            }
        }
    }

    @Test func topPKeepsOnlyTheNucleus() {
        var parameters = SamplingParameters()
        parameters.seed = 1
        parameters.topP = 0.7  // p = 0.55, 0.20, 0.12, …: the first two reach 0.7
        var sampler = Sampler(parameters)
        let seen = Set((0..<5_000).map { _ in sampler.next(Self.logits).token })
        #expect(seen == [0, 1])
    }

    @Test func biasAndPenaltiesMoveTheChoice() {
        var parameters = SamplingParameters()
        parameters.temperature = 0
        parameters.logitBias = [0: -100]
        var banned = Sampler(parameters)
        #expect(banned.next(Self.logits).token == 1)
        parameters.logitBias = [:]
        parameters.frequencyPenalty = 0.6
        var repeating = Sampler(parameters)
        // 2.0 → 1.4 after one use → 0.8 after two: token 1 (1.0) wins the third step.
        let repeated: [Int] = (0..<3).map { _ in repeating.next(Self.logits).token }
        #expect(repeated == [0, 0, 1])
        parameters.frequencyPenalty = 0
        parameters.presencePenalty = 1.5
        var present = Sampler(parameters)
        let presentTokens: [Int] = (0..<2).map { _ in present.next(Self.logits).token }
        #expect(presentTokens == [0, 1])
    }
}

@Suite struct TextStreamTests {
    @Test func aCharacterSplitOverTokensWaitsForItsLastByte() throws {
        guard let tokenizer = try BPETokenizerTests.smolLM2() else { return }
        // Byte-level tokens, one byte each: 🙂 is F0 9F 99 82.
        let text = "ok 🙂 é"
        var stream = TextStream(tokenizer: tokenizer)
        var shown: [String] = []
        for id in Array(text.utf8).map({ byteToken(tokenizer, $0) }) {
            shown.append(stream.append(id))
        }
        shown.append(stream.finish())
        #expect(shown.joined() == text)
        #expect(shown.allSatisfy { $0.unicodeScalars.allSatisfy { $0 != "\u{FFFD}" } })
        // The three tokens before the emoji's last byte release nothing.
        let emojiStart = Array("ok ".utf8).count
        #expect(shown[emojiStart..<(emojiStart + 3)].allSatisfy(\.isEmpty) && shown[emojiStart + 3] == "🙂")
    }

    @Test func stopSequencesAreMatchedAcrossTokensAndNeverShown() throws {
        guard let tokenizer = try BPETokenizerTests.smolLM2() else { return }
        let text = "The capital of France is Paris. It is lovely."
        var stream = TextStream(tokenizer: tokenizer, stops: ["Paris.", "nothing"])
        var shown = ""
        for id in tokenizer.encode(text) {
            shown += stream.append(id)
            // Nothing that could begin a stop sequence is out before it is known not to be one.
            #expect(!shown.hasSuffix("Par") && !shown.contains("Paris"))
        }
        shown += stream.finish()
        #expect(shown == "The capital of France is " && stream.stopped)
        var unstopped = TextStream(tokenizer: tokenizer, stops: ["lovely!"])
        let all = tokenizer.encode(text).map { unstopped.append($0) }.joined() + unstopped.finish()
        #expect(all == text && !unstopped.stopped)
    }

    @Test func specialTokensAreLeftOut() throws {
        guard let tokenizer = try BPETokenizerTests.smolLM2() else { return }
        var stream = TextStream(tokenizer: tokenizer)
        let ids = tokenizer.encode("Hi<|im_end|>", parseSpecial: true)
        #expect(ids.map { stream.append($0) }.joined() + stream.finish() == "Hi")
    }

    /// The single-byte token of `byte`.
    private func byteToken(_ tokenizer: BPETokenizer, _ byte: UInt8) -> Int {
        tokenizer.tokens.firstIndex(of: String(ByteLevel.byteToCharacter[Int(byte)]))!
    }
}
