import CKernels
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file, unmapped when the last tensor using it is gone.
///
/// On Linux the map is populated at once (as llama.cpp does): every page is read in while the model
/// loads, not on the first request that touches it. Otherwise a server's resident memory creeps up for
/// hours as rarely used rows (the token embeddings of rare tokens) are first read, and those first
/// reads stall a request on a page fault. Parts copied out (and packed tiles) are given back with
/// `release(_:byteCount:)`.
final class MappedFile: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let size: Int

    init(path: String, name: String) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ModelLoadError(name, "cannot be opened: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw ModelLoadError(name, "cannot be read: \(String(cString: strerror(errno)))") }
        size = Int(status.st_size)
        guard size > 0 else { throw ModelLoadError(name, "is empty") }
        #if os(Linux)
        let flags = MAP_PRIVATE | MAP_POPULATE
        #else
        let flags = MAP_PRIVATE
        #endif
        guard let mapped = mmap(nil, size, PROT_READ, flags, descriptor, 0), mapped != MAP_FAILED else {
            throw ModelLoadError(name, "cannot be mapped: \(String(cString: strerror(errno)))")
        }
        base = mapped
    }

    deinit { munmap(base, size) }

    /// Drops the pages of a range that was copied out and will not be read again from the map.
    func release(_ start: UnsafeRawPointer, byteCount: Int) {
        atr_release_mapped(start, byteCount)
    }
}
