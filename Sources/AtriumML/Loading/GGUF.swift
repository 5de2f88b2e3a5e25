import CKernels
import Foundation

/// A GGUF file (versions 2 and 3), memory-mapped: metadata and the tensor table are read at once,
/// tensors are used in place, quantized blocks and all. Every count, size and offset in the file is
/// checked before it is used, so a truncated, corrupt or foreign file is refused with a message that
/// names the file, the tensor or key, and the problem.
public final class GGUFFile: @unchecked Sendable {
    public struct TensorInfo: Sendable, Equatable {
        public var name: String
        public var type: GGMLType
        /// GGML's order: the first dimension is the contiguous one (a weight of `[inputs, outputs]`
        /// holds `outputs` rows of `inputs` values).
        public var shape: [Int]
        /// Byte offset of the data within the file.
        public var offset: Int
        public var byteCount: Int

        public var elementCount: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    public let tensors: [String: TensorInfo]
    /// Tensor names in the order the file lists them.
    public let tensorNames: [String]
    public let alignment: Int
    let file: MappedFile
    private let name: String

    public init(path: String) throws {
        self.path = path
        let name = (path as NSString).lastPathComponent
        self.name = name
        file = try MappedFile(path: path, name: name)
        var reader = GGUFReader(base: UnsafeRawPointer(file.base), size: file.size, file: name)
        guard file.size >= 24, try reader.u32() == 0x4655_4747 else { throw ModelLoadError(name, "not a GGUF file (no GGUF magic)") }
        let version = Int(try reader.u32())
        guard version == 2 || version == 3 else {
            throw ModelLoadError(name, "GGUF version \(version) is not supported (versions 2 and 3 are)")
        }
        self.version = version
        let tensorCount = try reader.count(of: "tensors", minimumBytesEach: 24)
        let keyCount = try reader.count(of: "metadata keys", minimumBytesEach: 12)

        var metadata: [String: GGUFValue] = [:]
        for _ in 0..<keyCount {
            let key = try reader.string()
            guard metadata[key] == nil else { throw ModelLoadError(name, "metadata key \(key) appears twice") }
            metadata[key] = try reader.value(type: try reader.u32(), key: key)
        }
        self.metadata = metadata

        let alignment = metadata["general.alignment"].map { $0.int ?? 0 } ?? 32
        guard alignment > 0, alignment <= 1 << 16, alignment & (alignment - 1) == 0 else {
            throw ModelLoadError(name, "general.alignment \(alignment) is not a power of two up to 65536")
        }
        self.alignment = alignment

        var pending: [(name: String, type: GGMLType, shape: [Int], offset: Int, bytes: Int)] = []
        var seen = Set<String>()
        for _ in 0..<tensorCount {
            let tensor = try reader.string()
            guard seen.insert(tensor).inserted else { throw ModelLoadError(name, "tensor \(tensor) appears twice") }
            let dimensions = Int(try reader.u32())
            guard (1...4).contains(dimensions) else { throw ModelLoadError(name, "tensor \(tensor) has \(dimensions) dimensions (1 to 4 allowed)") }
            var shape: [Int] = []
            for _ in 0..<dimensions {
                let extent = try reader.u64()
                guard extent <= 1 << 40 else { throw ModelLoadError(name, "tensor \(tensor) has a dimension of \(extent)") }
                shape.append(Int(extent))
            }
            let rawType = try reader.u32()
            guard let type = GGMLType(rawValue: rawType) else {
                throw ModelLoadError(
                    name, "tensor \(tensor) is \(GGMLType.name(of: rawType)), which the engine does not read (F32, F16, BF16, Q8_0, Q4_0 and Q4_1 are)")
            }
            let offset = try reader.u64()
            guard let bytes = type.byteCount(shape: shape) else {
                throw ModelLoadError(
                    name, "tensor \(tensor) (\(type.name) \(shape)) does not split into whole blocks of \(type.blockElements) values")
            }
            guard offset <= UInt64(file.size), Int(offset) % alignment == 0 else {
                throw ModelLoadError(name, "tensor \(tensor) starts at \(offset), which is not on the file's \(alignment)-byte alignment")
            }
            pending.append((tensor, type, shape, Int(offset), bytes))
        }
        let dataStart = (reader.offset + alignment - 1) / alignment * alignment
        var tensors: [String: TensorInfo] = [:]
        for entry in pending {
            let start = dataStart + entry.offset
            guard start <= file.size, entry.bytes <= file.size - start else {
                throw ModelLoadError(
                    name, "tensor \(entry.name) (\(entry.type.name) \(entry.shape), \(entry.bytes) bytes at \(start)) runs past the end of the file (\(file.size) bytes): the file is truncated")
            }
            tensors[entry.name] = TensorInfo(name: entry.name, type: entry.type, shape: entry.shape, offset: start, byteCount: entry.bytes)
        }
        self.tensors = tensors
        self.tensorNames = pending.map(\.name)
    }

    /// The tensor `name`, checked against `shape` (GGML's order) when one is given.
    public func info(_ tensor: String, shape expected: [Int]? = nil) throws -> TensorInfo {
        guard let info = tensors[tensor] else { throw ModelLoadError(name, "has no tensor \(tensor)") }
        if let expected, expected != info.shape {
            throw ModelLoadError(name, "tensor \(tensor) has shape \(info.shape), the metadata says \(expected)")
        }
        return info
    }

    /// Where a tensor's data starts, in the mapped file.
    public func data(_ info: TensorInfo) -> UnsafeRawPointer { UnsafeRawPointer(file.base + info.offset) }

    /// The tensor `name` as floats, dequantized (for small tensors, references and tests: the engine
    /// computes on quantized weights in place). Its shape is reversed to row-major order.
    public func floats(_ tensor: String, shape expected: [Int]? = nil) throws -> Tensor {
        let info = try info(tensor, shape: expected)
        let out = Tensor(zeros: info.shape.reversed())
        info.type.dequantize(data(info), count: info.elementCount, into: out.pointer)
        return out
    }

    /// The file's owner, for tensors that borrow its memory.
    var owner: AnyObject { file }

    /// A metadata value that must be there, for the model's loader.
    public func required(_ key: String) throws -> GGUFValue {
        guard let value = metadata[key] else { throw ModelLoadError(name, "has no \(key) in its metadata") }
        return value
    }

    public func requiredInt(_ key: String) throws -> Int {
        guard let value = try required(key).int else { throw ModelLoadError(name, "metadata \(key) is not an integer") }
        return value
    }
}

/// Bounds-checked reads from the mapped header, little-endian.
struct GGUFReader {
    let base: UnsafeRawPointer
    let size: Int
    let file: String
    var offset = 0

    private mutating func take(_ bytes: Int) throws -> UnsafeRawPointer {
        guard bytes >= 0, bytes <= size - offset else {
            throw ModelLoadError(file, "ends inside its header (at byte \(offset), \(bytes) more needed): the file is truncated or corrupt")
        }
        defer { offset += bytes }
        return base + offset
    }

    mutating func u8() throws -> UInt8 { try take(1).load(as: UInt8.self) }
    mutating func u16() throws -> UInt16 { UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self)) }
    mutating func u32() throws -> UInt32 { UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws -> UInt64 { UInt64(littleEndian: try take(8).loadUnaligned(as: UInt64.self)) }

    /// A count of items each at least `minimumBytesEach` long: one the rest of the file cannot hold is
    /// corruption, refused before anything is allocated for it.
    mutating func count(of what: String, minimumBytesEach: Int) throws -> Int {
        let count = try u64()
        guard count <= UInt64((size - offset) / max(1, minimumBytesEach)) else {
            throw ModelLoadError(file, "claims \(count) \(what), more than the file can hold: it is truncated or corrupt")
        }
        return Int(count)
    }

    mutating func string() throws -> String {
        let length = try count(of: "bytes in a string", minimumBytesEach: 1)
        let bytes = try take(length)
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
    }

    mutating func value(type: UInt32, key: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case 0: return .unsigned(UInt64(try u8()))
        case 1: return .signed(Int64(Int8(bitPattern: try u8())))
        case 2: return .unsigned(UInt64(try u16()))
        case 3: return .signed(Int64(Int16(bitPattern: try u16())))
        case 4: return .unsigned(UInt64(try u32()))
        case 5: return .signed(Int64(Int32(bitPattern: try u32())))
        case 6: return .float(Double(Float(bitPattern: try u32())))
        case 7: return .bool(try u8() != 0)
        case 8: return .string(try string())
        case 9:
            guard depth == 0 else { throw ModelLoadError(file, "metadata \(key) nests arrays deeper than GGUF models use") }
            let elementType = try u32()
            let count = try count(of: "elements in metadata \(key)", minimumBytesEach: elementType == 0 || elementType == 1 || elementType == 7 ? 1 : 2)
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(try value(type: elementType, key: key, depth: depth + 1)) }
            return .array(values)
        case 10: return .unsigned(try u64())
        case 11: return .signed(Int64(bitPattern: try u64()))
        case 12: return .float(Double(bitPattern: try u64()))
        default: throw ModelLoadError(file, "metadata \(key) has the unknown value type \(type)")
        }
    }
}

/// A metadata value.
public enum GGUFValue: Sendable, Equatable {
    case unsigned(UInt64)
    case signed(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    public var int: Int? {
        switch self {
        case .unsigned(let value): value <= UInt64(Int.max) ? Int(value) : nil
        case .signed(let value): Int(value)
        default: nil
        }
    }

    public var double: Double? {
        switch self {
        case .float(let value): value
        case .unsigned, .signed: int.map(Double.init)
        default: nil
        }
    }

    public var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(let values) = self { return values }
        return nil
    }

    public var strings: [String]? { array?.compactMap(\.string) }
    public var ints: [Int]? { array?.compactMap(\.int) }
}

/// The tensor element types the engine reads: floats, and GGML's blocks of 32 quantized values with
/// a half-precision scale (Q8_0: int8; Q4_0: 4-bit, offset 8; Q4_1: 4-bit with a minimum).
public enum GGMLType: UInt32, Sendable {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q8_0 = 8
    case bf16 = 30

    public var name: String { Self.name(of: rawValue) }

    public var blockElements: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q4_0, .q4_1, .q8_0: 32
        }
    }

    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q4_0: 18
        case .q4_1: 20
        case .q8_0: 34
        }
    }

    /// Bytes of a tensor of this shape, nil where its rows are not whole blocks or the size overflows.
    func byteCount(shape: [Int]) -> Int? {
        guard let first = shape.first, first % blockElements == 0 else { return nil }
        var bytes = first / blockElements * blockBytes
        for extent in shape.dropFirst() {
            let (product, overflow) = bytes.multipliedReportingOverflow(by: extent)
            guard !overflow else { return nil }
            bytes = product
        }
        return bytes
    }

    func dequantize(_ data: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        switch self {
        case .f32: UnsafeMutableRawPointer(out).copyMemory(from: data, byteCount: count * 4)
        case .f16: atr_f16_to_f32(data.assumingMemoryBound(to: UInt16.self), out, count)
        case .bf16: atr_bf16_to_f32(data.assumingMemoryBound(to: UInt16.self), out, count)
        case .q4_0: atr_dequantize_q4_0(data, out, count)
        case .q4_1: atr_dequantize_q4_1(data, out, count)
        case .q8_0: atr_dequantize_q8_0(data, out, count)
        }
    }

    static let names: [UInt32: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K",
        14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS",
        24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 29: "IQ1_M", 30: "BF16",
    ]

    static func name(of rawType: UInt32) -> String { names[rawType] ?? "type \(rawType)" }
}
