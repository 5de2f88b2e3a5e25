import CKernels

extension LlamaModel {
    /// One sequence's keys and values, every layer. It grows as the sequence does (`reserve`), so a
    /// sequence holds memory for the positions it uses, not for the whole context.
    ///
    /// Where the activations are fp32 (the exact path, layers of F32, F16 or BF16) so are they. On the
    /// default path of quantized layers each position's head (`headDimension` values) is 16-bit integers
    /// with one scale: half the memory, and half the bytes that attention reads, which with many
    /// sequences is most of its time (each reads its own cache every step). See `cachePrecision`.
    public final class Cache: @unchecked Sendable {
        public enum Precision: Sendable {
            case float32
            /// 16-bit integers with a scale per head and position (15 bits of its largest magnitude).
            case int16

            var bytes: Int { self == .float32 ? 4 : 2 }
        }

        public let precision: Precision
        public private(set) var capacity: Int
        public internal(set) var count = 0
        let heads: Int
        let headDimension: Int
        var dimension: Int { heads * headDimension }
        private(set) var keys: [Rows]
        private(set) var values: [Rows]

        public init(config: LlamaConfig, capacity: Int, precision: Precision) {
            let capacity = max(1, capacity)
            self.capacity = capacity
            self.precision = precision
            heads = config.kvHeads
            headDimension = config.headDimension
            func layers() -> [Rows] {
                (0..<config.layers).map { _ in Rows(capacity: capacity, heads: config.kvHeads, headDimension: config.headDimension, precision: precision) }
            }
            keys = layers()
            values = layers()
        }

        /// Bytes a cache of `precision` uses per position, across every layer.
        public static func bytesPerPosition(_ config: LlamaConfig, precision: Precision) -> Int {
            let scales = precision == .int16 ? config.kvHeads * MemoryLayout<Float>.size : 0
            return 2 * config.layers * (config.kvDimension * precision.bytes + scales)
        }

        /// Makes room for `positions` positions in all, keeping what is held; `exactly` not, it grows by
        /// half again at least, so that decoding a token at a time copies the cache only now and then.
        public func reserve(_ positions: Int, exactly: Bool = false) {
            guard positions > capacity else { return }
            let grown = exactly ? positions : (max(positions, capacity + capacity / 2) + 63) / 64 * 64
            keys = keys.map { $0.widened(to: grown, keeping: count) }
            values = values.map { $0.widened(to: grown, keeping: count) }
            capacity = grown
        }

        /// Keeps the first `positions` positions of `other` (a shared prompt prefix), as if computed here.
        public func copyPrefix(of other: Cache, positions: Int) {
            precondition(positions <= other.count && dimension == other.dimension && precision == other.precision)
            reserve(positions, exactly: true)
            for layer in keys.indices {
                keys[layer].copy(other.keys[layer], positions: positions)
                values[layer].copy(other.values[layer], positions: positions)
            }
            count = positions
        }

        /// Stores the keys and values of `kvHeads` heads at `position` of `layer` (x points at the first
        /// of those heads). Tasks may store disjoint heads or positions at once.
        func store(layer: Int, position: Int, kvHeads: Range<Int>, keys newKeys: UnsafePointer<Float>, values newValues: UnsafePointer<Float>) {
            keys[layer].store(newKeys, position: position, heads: kvHeads)
            values[layer].store(newValues, position: position, heads: kvHeads)
        }

        /// Attention of the `group` query heads (at `query`) that share key/value head `kvHead`, over the
        /// first `length` positions of `layer`; `scores` holds group·length floats.
        func attend(
            layer: Int, kvHead: Int, query: UnsafePointer<Float>, length: Int, group: Int, scale: Float, scores: UnsafeMutablePointer<Float>,
            into out: UnsafeMutablePointer<Float>
        ) {
            let (k, v) = (keys[layer], values[layer])
            let offset = k.offset(head: kvHead, position: 0)
            switch precision {
            case .float32:
                atr_attention_decode(query, k.floats + offset, v.floats + offset, headDimension, length, group, 1, headDimension, scale, scores, out)
            case .int16:
                atr_attention_group16(
                    query, k.integers + offset, k.scales! + kvHead * capacity, v.integers + offset, v.scales! + kvHead * capacity, headDimension, length,
                    group, headDimension, scale, scores, out)
            }
        }
    }

    /// One layer's keys or values: [heads][capacity][headDimension] of fp32 or 16-bit integers, and for
    /// the integers each head's scales along the positions, [heads][capacity]. A head's positions lie
    /// one after another, so attention reads each head's cache as one stream: with many sequences, whose
    /// caches come from memory every step, that takes about 30 % less time than rows strided by all heads.
    final class Rows: @unchecked Sendable {
        let capacity: Int
        let heads: Int
        let headDimension: Int
        let precision: Cache.Precision
        private let data: UnsafeMutableRawPointer
        let scales: UnsafeMutablePointer<Float>?

        init(capacity: Int, heads: Int, headDimension: Int, precision: Cache.Precision) {
            self.capacity = capacity
            self.heads = heads
            self.headDimension = headDimension
            self.precision = precision
            // Left as allocated: a position is read only after it is stored (or copied).
            data = UnsafeMutableRawPointer.allocate(byteCount: max(64, capacity * heads * headDimension * precision.bytes), alignment: 64)
            scales = precision == .int16 ? .allocate(capacity: capacity * heads) : nil
        }

        deinit {
            data.deallocate()
            scales?.deallocate()
        }

        var floats: UnsafeMutablePointer<Float> { data.assumingMemoryBound(to: Float.self) }
        var integers: UnsafeMutablePointer<Int16> { data.assumingMemoryBound(to: Int16.self) }

        /// A copy with room for `capacity` positions, holding this one's first `count`.
        func widened(to capacity: Int, keeping count: Int) -> Rows {
            let rows = Rows(capacity: capacity, heads: heads, headDimension: headDimension, precision: precision)
            rows.copy(self, positions: count)
            return rows
        }

        /// The first `positions` positions of `other` (of the same shape and precision), in place of these.
        func copy(_ other: Rows, positions: Int) {
            precondition(positions <= capacity && positions <= other.capacity)
            let bytes = precision.bytes
            for head in 0..<heads {
                (data + offset(head: head, position: 0) * bytes).copyMemory(
                    from: other.data + other.offset(head: head, position: 0) * bytes, byteCount: positions * headDimension * bytes)
            }
            guard let scales, let theirs = other.scales else { return }
            for head in 0..<heads { (scales + head * capacity).update(from: theirs + head * other.capacity, count: positions) }
        }

        /// Where `head`'s values at `position` begin, in elements.
        func offset(head: Int, position: Int) -> Int {
            (head * capacity + position) * headDimension
        }

        func store(_ x: UnsafePointer<Float>, position: Int, heads range: Range<Int>) {
            for (index, head) in range.enumerated() {
                let at = offset(head: head, position: position)
                let from = x + index * headDimension
                switch precision {
                case .float32:
                    (floats + at).update(from: from, count: headDimension)
                case .int16:
                    atr_kv16_store(from, 1, headDimension, integers + at, scales! + head * capacity + position, capacity)
                }
            }
        }
    }
}
