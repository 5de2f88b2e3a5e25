import CKernels
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A `.safetensors` file, memory-mapped: the header is read at once, tensors on demand. F32 tensors
/// aligned to a cache line are used in place (no copy), others are copied to aligned memory; F16 and
/// BF16 ones are widened to F32.
public final class SafeTensors: @unchecked Sendable {
    public struct Entry: Sendable, Equatable {
        public var dtype: String
        public var shape: [Int]
        /// Byte range within the data section.
        public var range: Range<Int>
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let file: MappedFile
    private let dataStart: Int

    static let elementSizes = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1]

    public init(path: String) throws {
        self.path = path
        let name = (path as NSString).lastPathComponent
        file = try MappedFile(path: path, name: name)
        guard file.size >= 8 else { throw ModelLoadError(name, "too short to be a safetensors file (\(file.size) bytes)") }
        let claimed = UInt64(littleEndian: file.base.loadUnaligned(as: UInt64.self))
        guard claimed > 1, claimed <= UInt64(file.size - 8), claimed <= 100_000_000 else {
            throw ModelLoadError(name, "not a safetensors file (its header claims \(claimed) bytes in a file of \(file.size))")
        }
        let headerSize = Int(claimed)
        dataStart = 8 + headerSize
        let header = Data(bytes: file.base + 8, count: headerSize)
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw ModelLoadError(name, "its header is not a JSON object")
        }
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        let dataSize = file.size - dataStart
        for (key, value) in json {
            if key == "__metadata__" {
                for (field, text) in value as? [String: Any] ?? [:] { metadata[field] = text as? String }
                continue
            }
            guard let fields = value as? [String: Any], let dtype = fields["dtype"] as? String, let shape = fields["shape"] as? [Int],
                let offsets = fields["data_offsets"] as? [Int], offsets.count == 2
            else { throw ModelLoadError(name, "tensor \(key) has no dtype, shape and data_offsets") }
            guard let size = Self.elementSizes[dtype] else { throw ModelLoadError(name, "tensor \(key) has the unknown dtype \(dtype)") }
            let bytes = shape.reduce(Optional(size)) { product, dimension in
                guard let product, dimension >= 0 else { return nil }
                let (result, overflow) = product.multipliedReportingOverflow(by: dimension)
                return overflow ? nil : result
            }
            guard let bytes, offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataSize, offsets[1] - offsets[0] == bytes else { throw ModelLoadError(name, "tensor \(key) (\(dtype) \(shape)) does not fit its data_offsets \(offsets) in \(dataSize) bytes of data") }
            entries[key] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// The bytes of tensor `name` in the mapped file, as they are, checked against `shape` when one is given.
    public func bytes(_ name: String, shape expected: [Int]? = nil) throws -> (entry: Entry, data: UnsafeRawPointer) {
        let file = (path as NSString).lastPathComponent
        guard let entry = entries[name] else { throw ModelLoadError(file, "has no tensor \(name)") }
        if let expected, expected != entry.shape {
            throw ModelLoadError(file, "tensor \(name) has shape \(entry.shape), the config says \(expected)")
        }
        return (entry, UnsafeRawPointer(self.file.base + dataStart + entry.range.lowerBound))
    }

    /// The tensor `name` as F32, checked against `shape` when one is given.
    public func tensor(_ name: String, shape expected: [Int]? = nil) throws -> Tensor {
        let file = (path as NSString).lastPathComponent
        let (entry, start) = try bytes(name, shape: expected)
        let count = entry.shape.reduce(1, *)
        switch entry.dtype {
        case "F32":
            // In place when the file lays it out on a cache line; else copied to one, so that the
            // kernels' vector loads never straddle two lines.
            if Int(bitPattern: start) % 64 == 0 {
                return Tensor(shape: entry.shape, storage: TensorStorage(borrowing: UnsafeMutableRawPointer(mutating: start).assumingMemoryBound(to: Float.self), owner: self.file))
            }
            let tensor = Tensor(zeros: entry.shape)
            UnsafeMutableRawPointer(tensor.pointer).copyMemory(from: start, byteCount: count * 4)
            self.file.release(start, byteCount: count * 4)
            return tensor
        case "F16", "BF16":
            let tensor = Tensor(zeros: entry.shape)
            let halves = UnsafeMutablePointer<UInt16>.allocate(capacity: max(1, count))
            defer { halves.deallocate() }
            UnsafeMutableRawPointer(halves).copyMemory(from: start, byteCount: count * 2)
            if entry.dtype == "F16" { atr_f16_to_f32(halves, tensor.pointer, count) } else { atr_bf16_to_f32(halves, tensor.pointer, count) }
            self.file.release(start, byteCount: count * 2)
            return tensor
        default:
            throw ModelLoadError(file, "tensor \(name) is \(entry.dtype); only F32, F16 and BF16 weights can be loaded")
        }
    }
}
