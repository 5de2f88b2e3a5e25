import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file, unmapped when the last tensor using it is gone.
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
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0), mapped != MAP_FAILED else {
            throw ModelLoadError(name, "cannot be mapped: \(String(cString: strerror(errno)))")
        }
        base = mapped
    }

    deinit { munmap(base, size) }
}
