import AtriumCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The durability half of the usage ledger: every finished `/v1` request is appended here, one JSON
/// line, with a plain `write(2)` before its response is sent. Once `write` returns, the operating system
/// holds the line, so killing the process (even with `kill -9`) loses nothing; the records move into
/// the database in group commits, and the file is emptied whenever everything in it is committed.
///
/// Each server process writes a file of its own (`usage-<uuid>.jsonl`) and holds an exclusive `flock`
/// on it. A file nobody holds belongs to a process that died: `orphans()` hands its records to whoever
/// finds it, and the ledger's unique record ids make a replay count each request once.
public final class UsageJournal: Sendable {
    private struct State {
        var descriptor: Int32
        var path: String
        /// Bytes in the file: lines written since it was opened or last emptied.
        var size = 0
        /// The batch `uncommitted` handed out, until `committed` says it is in (or it is handed out again).
        var taken: [UsageRecord] = []
        /// Written since, oldest first. Kept apart from `taken` so that appends never copy the batch the
        /// ledger holds (an array shared with it would be copied whole by the next append).
        var pending: [UsageRecord] = []
        /// Lines whose `write` is under way.
        var writing = 0
        var writeFailures = 0

        var isEmpty: Bool { taken.isEmpty && pending.isEmpty }
    }

    /// The file appends go to now (it changes when the journal moves to a fresh one).
    public var path: String { state.withLock { $0.path } }
    private let directory: String
    /// Past this size the journal moves to a fresh file when a commit leaves records pending (a busy
    /// server's never empties, so emptying it alone let it grow without end).
    private let rotateAfterBytes: Int
    private let state: Mutex<State>

    public init(directory: String, rotateAfterBytes: Int = 64 << 20) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        self.rotateAfterBytes = rotateAfterBytes
        let (descriptor, path) = try Self.createFile(in: directory)
        self.state = Mutex(State(descriptor: descriptor, path: path))
    }

    /// A new journal file, locked by this process. It is created under a name `orphans()` ignores and
    /// renamed once locked, so no other instance can take a brand-new journal for a dead one's.
    private static func createFile(in directory: String) throws -> (descriptor: Int32, path: String) {
        let name = "usage-\(UUID().uuidString.lowercased()).jsonl"
        let path = "\(directory)/\(name)"
        let creating = "\(directory)/creating-\(name)"
        let descriptor = open(creating, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw JournalError("cannot create the usage journal \(path): \(String(cString: strerror(errno)))") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0, rename(creating, path) == 0 else {
            systemClose(descriptor)
            unlink(creating)
            throw JournalError("cannot lock the usage journal \(path)")
        }
        return (descriptor, path)
    }

    /// Appends a record. Returns false when the file could not be written (a full disk, say): the
    /// record is still kept for the next commit, only its crash safety is lost.
    @discardableResult
    public func append(_ record: UsageRecord) -> Bool {
        var staged = StagedLines()
        stage(record, in: &staged)
        return write(&staged)
    }

    /// Lines staged for one `write`: an event loop stages the lines of the requests it finishes in a
    /// turn, and writes them together before it sends any of their answers.
    public struct StagedLines: Sendable {
        fileprivate var bytes: [UInt8] = []
        fileprivate var records: [UsageRecord] = []

        public init() {}

        public var isEmpty: Bool { records.isEmpty }
    }

    /// Adds `record`'s line to `staged`. The record is the ledger's once `write` has written the line.
    public func stage(_ record: UsageRecord, in staged: inout StagedLines) {
        Self.encode(record, into: &staged.bytes)
        staged.records.append(record)
    }

    /// Writes the staged lines with one `write`, hands their records to the next commit (even when the
    /// file could not be written: the records are still committed, only their crash safety is lost) and
    /// empties `staged`. Returns false when the file could not be written.
    @discardableResult
    public func write(_ staged: inout StagedLines) -> Bool {
        guard !staged.isEmpty else { return true }
        let lines = staged.records.count
        // The write happens outside the lock, so event loops writing at once do not queue behind each
        // other's system calls; `writing` keeps `committed` from emptying the file under lines in flight.
        let descriptor = state.withLock { state in
            state.writing += lines
            return state.descriptor
        }
        let written = staged.bytes.withUnsafeBytes { systemWriteAll(descriptor, $0) }
        state.withLock { state in
            state.writing -= lines
            if written { state.size += staged.bytes.count } else { state.writeFailures += lines }
            state.pending.append(contentsOf: staged.records)
        }
        staged.bytes.removeAll(keepingCapacity: true)
        staged.records.removeAll(keepingCapacity: true)
        return written
    }

    /// Keeps a record the database refuses (it is taken out of the pending ones by `committed`) in
    /// `rejected-usage.jsonl` next to the journals, for an operator to look at.
    public func setAside(_ record: UsageRecord) {
        let descriptor = open("\(directory)/rejected-usage.jsonl", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        var line: [UInt8] = []
        Self.encode(record, into: &line)
        _ = line.withUnsafeBytes { systemWriteAll(descriptor, $0) }
        systemClose(descriptor)
    }

    /// The most records one group commit takes.
    public static let batchLimit = 5_000

    /// The oldest records not yet committed, at most `limit`: the batch handed out last time when it was
    /// not reported committed, else the next one.
    public func uncommitted(limit: Int = batchLimit) -> [UsageRecord] {
        state.withLock { state in
            if state.taken.isEmpty && !state.pending.isEmpty {
                if state.pending.count <= limit {
                    swap(&state.taken, &state.pending)
                    state.pending.reserveCapacity(state.taken.count)
                } else {
                    state.taken = Array(state.pending.prefix(limit))
                    state.pending.removeFirst(limit)
                }
            }
            return Array(state.taken.prefix(limit))
        }
    }

    public var uncommittedCount: Int { state.withLock { $0.taken.count + $0.pending.count } }

    /// The oldest `count` records are in the database. When nothing else is pending and no line is being
    /// written, the file is emptied (under the same lock as appends, so no line is lost in between);
    /// when records are pending and the file has grown past `rotateAfterBytes`, it is replaced.
    public func committed(_ count: Int) {
        let retired = state.withLock { state -> Retired? in
            let fromTaken = min(count, state.taken.count)
            if fromTaken == state.taken.count { state.taken = [] } else { state.taken.removeFirst(fromTaken) }
            state.pending.removeFirst(min(count - fromTaken, state.pending.count))
            guard state.writing == 0 else { return nil }
            if state.isEmpty {
                _ = ftruncate(state.descriptor, 0)
                state.size = 0
                return nil
            }
            guard state.size > rotateAfterBytes, let fresh = try? Self.createFile(in: directory) else { return nil }
            let retired = Retired(descriptor: state.descriptor, path: state.path, records: state.taken + state.pending)
            (state.descriptor, state.path, state.size) = (fresh.descriptor, fresh.path, 0)
            return retired
        }
        if let retired { retire(retired) }
    }

    /// A file appends no longer go to, with the records whose lines it holds that are not committed yet.
    private struct Retired {
        var descriptor: Int32
        var path: String
        var records: [UsageRecord]
    }

    /// Copies the still-pending records' lines into the current file, then removes the old one. This
    /// runs outside the lock (appends go on meanwhile): the copy and the removal of a large file took
    /// milliseconds that every event loop's next append would otherwise wait out. Crashing in between
    /// leaves lines in both files, and a replay counts each record once (by its id). When the copy
    /// fails, the old file is only closed: another scan takes it as an orphan and replays it.
    private func retire(_ retired: Retired) {
        var lines: [UInt8] = []
        for record in retired.records { Self.encode(record, into: &lines) }
        let descriptor = state.withLock { $0.descriptor }
        if lines.withUnsafeBytes({ systemWriteAll(descriptor, $0) }) {
            state.withLock { $0.size += lines.count }
            unlink(retired.path)
        }
        systemClose(retired.descriptor)
    }

    /// Closes the journal; the file is removed when everything in it was committed.
    public func close() {
        state.withLock { state in
            guard state.descriptor >= 0 else { return }
            if state.isEmpty { unlink(state.path) }
            systemClose(state.descriptor)
            state.descriptor = -1
        }
    }

    /// Lets go of the file as a crashed process would, leaving it for `orphans()` (tests use this).
    public func abandon() {
        state.withLock { state in
            guard state.descriptor >= 0 else { return }
            systemClose(state.descriptor)
            state.descriptor = -1
        }
    }

    /// A journal left by a process that is gone, locked by us until `discard`.
    public final class Orphan: Sendable {
        public let path: String
        public let records: [UsageRecord]
        /// Lines that could not be read (a line cut short by the crash).
        public let damagedLines: Int
        private let descriptor: Int32

        init(path: String, records: [UsageRecord], damagedLines: Int, descriptor: Int32) {
            self.path = path
            self.records = records
            self.damagedLines = damagedLines
            self.descriptor = descriptor
        }

        /// The records are committed: the file goes.
        public func discard() {
            unlink(path)
            systemClose(descriptor)
        }

        /// Not committed this time: let go of the lock so a later scan (or another instance) takes it.
        public func release() {
            systemClose(descriptor)
        }
    }

    /// Journals in the directory that no live process holds.
    public func orphans() -> [Orphan] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let own = path
        var found: [Orphan] = []
        for name in names.sorted() where name.hasPrefix("usage-") && name.hasSuffix(".jsonl") {
            let file = "\(directory)/\(name)"
            guard file != own else { continue }
            let descriptor = open(file, O_RDWR | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
                systemClose(descriptor)
                continue
            }
            let data = FileManager.default.contents(atPath: file) ?? Data()
            let (records, damaged) = Self.decode(data)
            found.append(Orphan(path: file, records: records, damagedLines: damaged, descriptor: descriptor))
        }
        return found
    }

    // MARK: Lines

    /// One JSON line. Written by hand, not with `JSONEncoder`: this runs on the event loop for every
    /// request, and the line's shape is fixed (`decode` reads it back with `Codable`).
    static func encode(_ record: UsageRecord) -> String {
        var bytes: [UInt8] = []
        encode(record, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `record`'s line to `bytes`, written as bytes from the start (building a `String` and
    /// copying it out was 3 % of a proxied request's CPU).
    static func encode(_ record: UsageRecord, into bytes: inout [UInt8]) {
        var line = LineWriter()
        swap(&line.bytes, &bytes)  // the writer holds the only reference, so appending does not copy
        line.raw("{\"id\":")
        line.uuid(record.id)
        line.raw(",\"requestID\":")
        line.text(record.requestID)
        line.raw(",\"organizationID\":")
        line.uuid(record.organizationID.raw)
        line.raw(",\"keyID\":")
        line.uuid(record.keyID.raw)
        line.raw(",\"model\":")
        line.text(record.model)
        line.raw(",\"provider\":")
        line.text(record.provider)
        line.raw(",\"promptTokens\":")
        line.integer(record.promptTokens)
        line.raw(",\"completionTokens\":")
        line.integer(record.completionTokens)
        line.raw(",\"costMicros\":")
        line.integer(record.costMicros)
        line.raw(",\"priceID\":")
        if let price = record.priceID { line.uuid(price) } else { line.raw("null") }
        line.raw(",\"status\":")
        line.integer(record.status)
        line.raw(",\"finishReason\":")
        line.text(record.finishReason)
        line.raw(",\"streamed\":")
        line.raw(record.streamed ? "true" : "false")
        line.raw(",\"estimated\":")
        line.raw(record.estimated ? "true" : "false")
        line.raw(",\"latencyMilliseconds\":")
        line.integer(record.latencyMilliseconds)
        if let message = record.errorMessage {  // absent in most lines, and in journals written before it existed
            line.raw(",\"errorMessage\":")
            line.text(message)
        }
        // Milliseconds are all the precision the ledger keeps.
        let milliseconds = Int64((record.createdAt.timeIntervalSince1970 * 1000).rounded())
        line.raw(",\"createdAt\":")
        line.integer(milliseconds / 1000)
        line.raw(".")
        line.integer(1000 + abs(milliseconds % 1000), droppingFirstDigit: true)
        line.raw("}\n")
        swap(&line.bytes, &bytes)
    }

    /// JSON written straight into bytes.
    private struct LineWriter {
        var bytes: [UInt8] = []

        mutating func raw(_ text: StaticString) {
            text.withUTF8Buffer { bytes.append(contentsOf: $0) }
        }

        mutating func uuid(_ id: UUID) {
            bytes.append(UInt8(ascii: "\""))
            id.appendHex(to: &bytes)
            bytes.append(UInt8(ascii: "\""))
        }

        mutating func text(_ value: String?) {
            guard let value else { return raw("null") }
            bytes.append(UInt8(ascii: "\""))
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    bytes.append(UInt8(ascii: "\\"))
                    bytes.append(byte)
                case ..<0x20:
                    raw("\\u00")
                    bytes.append(Self.hexDigits[Int(byte >> 4)])
                    bytes.append(Self.hexDigits[Int(byte & 0x0F)])
                default:
                    bytes.append(byte)  // the bytes of other characters need no escape in JSON
                }
            }
            bytes.append(UInt8(ascii: "\""))
        }

        mutating func integer(_ value: some BinaryInteger, droppingFirstDigit: Bool = false) {
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            let start = bytes.count
            var magnitude = UInt64(value.magnitude)
            repeat {  // least significant first, then turned around
                bytes.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
                magnitude /= 10
            } while magnitude > 0
            if droppingFirstDigit { bytes.removeLast() }
            var (low, high) = (start, bytes.count - 1)
            while low < high {  // in place: reversing the slice `bytes[start...]` copied it
                bytes.swapAt(low, high)
                (low, high) = (low + 1, high - 1)
            }
        }

        private static let hexDigits = Array("0123456789abcdef".utf8)
    }

    static func decode(_ data: Data) -> (records: [UsageRecord], damaged: Int) {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        var records: [UsageRecord] = []
        var damaged = 0
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            if let record = try? decoder.decode(UsageRecord.self, from: Data(line)) {
                records.append(record)
            } else {
                damaged += 1
            }
        }
        return (records, damaged)
    }
}

public struct JournalError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// `close(2)`, under a name that the journal's own `close()` does not shadow.
private func systemClose(_ descriptor: Int32) {
    _ = close(descriptor)
}

/// Writes all of `bytes`, going on after a partial write or an interruption.
private func systemWriteAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let count = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
        if count < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += count
    }
    return true
}
