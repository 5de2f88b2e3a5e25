import Foundation

/// How the next token is chosen, as OpenAI's API defines it.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 picks the most likely token (greedy); higher flattens the distribution.
    public var temperature: Float = 1
    /// Nucleus sampling: only the most likely tokens whose probabilities add up to `topP` are drawn from.
    public var topP: Float = 1
    /// The same seed (and inputs) gives the same tokens.
    public var seed: UInt64?
    /// Subtracted once from every token already generated (−2…2).
    public var presencePenalty: Float = 0
    /// Subtracted per occurrence of a token already generated (−2…2).
    public var frequencyPenalty: Float = 0
    /// Added to a token's logit (−100…100; −100 bans it, 100 all but forces it).
    public var logitBias: [Int: Float] = [:]
    /// How many alternatives to report with their log-probabilities at each step (0…20).
    public var topLogprobs = 0
    /// Whether the chosen token's log-probability is wanted (it costs a pass over the vocabulary); when
    /// not, `SampledToken.logprob` is 0.
    public var logprobs = true

    public init() {}
}

/// One chosen token, with its log-probability and the most likely alternatives (log-probabilities of
/// the model's own distribution, before temperature, penalties and bias, as vLLM reports them).
public struct SampledToken: Sendable, Equatable {
    public var token: Int
    public var logprob: Float
    public var top: [(token: Int, logprob: Float)]

    public static func == (a: SampledToken, b: SampledToken) -> Bool {
        a.token == b.token && a.logprob == b.logprob && a.top.elementsEqual(b.top) { $0.token == $1.token && $0.logprob == $1.logprob }
    }
}

/// Chooses tokens from logits for one sequence: penalties from what it has generated so far, then
/// bias, temperature and nucleus, drawn with its own seeded generator.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: Xoshiro256
    private var counts: [Int: Int] = [:]

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        random = Xoshiro256(seed: parameters.seed ?? UInt64.random(in: .min ... .max))
    }

    /// Picks the next token from `logits` (one per vocabulary entry) and remembers it for the penalties.
    /// Log-probabilities are the model's own, before penalties, bias and temperature.
    public mutating func next(_ logits: [Float]) -> SampledToken {
        precondition(!logits.isEmpty)
        let shift = parameters.logprobs || parameters.topLogprobs > 0 ? Self.logSumExp(logits) : 0
        var adjusted = logits
        if parameters.frequencyPenalty != 0 || parameters.presencePenalty != 0 {
            for (token, count) in counts {
                adjusted[token] -= parameters.frequencyPenalty * Float(count) + parameters.presencePenalty
            }
        }
        for (token, bias) in parameters.logitBias where adjusted.indices.contains(token) { adjusted[token] += bias }
        let token = parameters.temperature <= 0 ? Self.argmax(adjusted) : draw(adjusted)
        counts[token, default: 0] += 1
        let top = parameters.topLogprobs > 0
            ? Self.top(logits, count: parameters.topLogprobs).map { (token: $0.token, logprob: Float(Double($0.logprob) - shift)) } : []
        let logprob = parameters.logprobs || parameters.topLogprobs > 0 ? Float(Double(logits[token]) - shift) : 0
        return SampledToken(token: token, logprob: logprob, top: top)
    }

    private mutating func draw(_ logits: [Float]) -> Int {
        let inverse = 1 / Double(parameters.temperature)
        let top = Double(logits.max()!)
        var weights = logits.map { exp((Double($0) - top) * inverse) }
        let total = weights.reduce(0, +)
        var candidates: [Int]
        if parameters.topP < 1 {
            // The smallest set of most likely tokens whose probability reaches top_p (at least one). The
            // nucleus lies among the tokens above any weight whose tokens already hold that much, so only
            // those are sorted (a few hundred of 49,152, usually), and everything only when they fall short.
            let wanted = Double(parameters.topP) * total
            var floor = 1e-4
            repeat {
                candidates = weights.indices.filter { weights[$0] >= floor }
                floor /= 100
            } while candidates.reduce(0.0, { $0 + weights[$1] }) < wanted && floor > 1e-300 && candidates.count < weights.count
            if candidates.reduce(0.0, { $0 + weights[$1] }) < wanted { candidates = Array(weights.indices) }
            candidates.sort { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && $0 < $1) }
            var kept = 0
            var mass = 0.0
            while kept < candidates.count && (kept == 0 || mass < wanted) {
                mass += weights[candidates[kept]]
                kept += 1
            }
            candidates.removeSubrange(kept...)
            let keptSet = Set(candidates)
            for index in weights.indices where !keptSet.contains(index) { weights[index] = 0 }
        } else {
            candidates = Array(weights.indices)
        }
        let sum = candidates.reduce(0.0) { $0 + weights[$1] }
        var threshold = random.nextUnit() * sum
        for index in candidates {
            threshold -= weights[index]
            if threshold < 0 { return index }
        }
        return candidates.last { weights[$0] > 0 } ?? candidates[0]
    }

    /// A given token's log-probability under `logits`, with the `top` most likely alternatives: how a
    /// prompt's tokens are scored (`echo` with `logprobs`).
    public static func score(_ logits: [Float], token: Int, top count: Int) -> SampledToken {
        let shift = logSumExp(logits)
        let top = count > 0 ? top(logits, count: count).map { (token: $0.token, logprob: Float(Double($0.logprob) - shift)) } : []
        return SampledToken(token: token, logprob: Float(Double(logits[token]) - shift), top: top)
    }

    static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for index in values.indices where values[index] > values[best] { best = index }
        return best
    }

    static func logSoftmax(_ logits: [Float]) -> [Float] {
        let shift = logSumExp(logits)
        return logits.map { Float(Double($0) - shift) }
    }

    /// log Σ exp(logits), in double: what a logit less it is its log-probability.
    static func logSumExp(_ logits: [Float]) -> Double {
        let top = logits.max()!
        let sum = logits.reduce(0.0) { $0 + exp(Double($1 - top)) }
        return Double(top) + log(sum)
    }

    /// The `count` largest entries, largest first (ties by lower id).
    static func top(_ values: [Float], count: Int) -> [(token: Int, logprob: Float)] {
        var best: [(token: Int, logprob: Float)] = []
        for (index, value) in values.enumerated() {
            if best.count == count, let last = best.last, value <= last.logprob { continue }
            let position = best.firstIndex { value > $0.logprob } ?? best.count
            best.insert((index, value), at: position)
            if best.count > count { best.removeLast() }
        }
        return best
    }
}

/// xoshiro256**, seeded through SplitMix64: small, fast and the same on every platform.
struct Xoshiro256: Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    init(seed: UInt64) {
        var mix = seed
        func next() -> UInt64 {
            mix &+= 0x9E37_79B9_7F4A_7C15
            var z = mix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (next(), next(), next(), next())
    }

    mutating func next() -> UInt64 {
        let result = ((state.1 &* 5) << 7 | (state.1 &* 5) >> 57) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = state.3 << 45 | state.3 >> 19
        return result
    }

    /// A double in [0, 1).
    mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}
