/// Floats in row-major order with a shape. The storage is either owned (aligned for SIMD loads) or
/// borrowed from a memory-mapped weights file that outlives it; kernels take its raw pointer.
public struct Tensor: @unchecked Sendable {
    public let shape: [Int]
    let storage: TensorStorage

    public var count: Int { shape.reduce(1, *) }
    public var pointer: UnsafeMutablePointer<Float> { storage.base }

    /// Zeros.
    public init(zeros shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(count: shape.reduce(1, *))
    }

    /// Memory left as the allocator hands it over, for a result whose every element is about to be
    /// written (a pass's logits: megabytes a step that zeroing would touch for nothing).
    init(uninitialized shape: [Int]) {
        self.shape = shape
        self.storage = TensorStorage(uninitialized: shape.reduce(1, *))
    }

    /// The tensors' values one after another, under a new shape of the same count.
    init(concatenating tensors: [Tensor], shape: [Int]) {
        self.init(zeros: shape)
        precondition(tensors.reduce(0) { $0 + $1.count } == count)
        var offset = 0
        for tensor in tensors {
            (pointer + offset).update(from: tensor.pointer, count: tensor.count)
            offset += tensor.count
        }
    }

    init(shape: [Int], storage: TensorStorage) {
        self.shape = shape
        self.storage = storage
    }

    public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}

/// The memory behind a tensor: allocated here (64-byte aligned, freed with it), or borrowed from an
/// owner kept alive alongside.
final class TensorStorage: @unchecked Sendable {
    let base: UnsafeMutablePointer<Float>
    private let owned: Bool
    private let owner: AnyObject?

    /// `count` zeros.
    convenience init(count: Int) {
        self.init(uninitialized: count)
        base.initialize(repeating: 0, count: max(1, count))
    }

    init(uninitialized count: Int) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(1, count))
        owned = true
        owner = nil
    }

    init(borrowing base: UnsafeMutablePointer<Float>, owner: AnyObject) {
        self.base = base
        self.owned = false
        self.owner = owner
    }

    deinit {
        if owned { UnsafeMutableRawPointer(base).deallocate() }
    }
}
