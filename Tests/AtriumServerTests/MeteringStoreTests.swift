import AtriumCore
import Foundation
import NIOPosix
import Testing

@testable import AtriumPersistence
@testable import AtriumServer

/// The ledgers in the real databases: commits counted once, balances equal to their ledgers, codes
/// that cannot be over-redeemed.
@Suite struct MeteringStoreTests {
    func services(_ database: TestDatabase) async throws -> AtriumServices {
        var config = try await testConfig(database)
        config.freeCreditMicros = 1_000
        return try await AtriumServices.make(config: config, logger: testLogger)
    }

    func organization(_ services: AtriumServices) async throws -> OrganizationID {
        let user = try await services.accounts.register(email: "\(UUID().uuidString.prefix(8))@example.com", password: "correct horse", name: "T")
        return try await services.accounts.actingOrganization(nil, user: user.id).organization.id
    }

    func record(_ organization: OrganizationID, cost: Micros, tokens: Int = 10) -> UsageRecord {
        UsageRecord(
            requestID: "req_\(UUID().uuidString.prefix(8))", organizationID: organization, keyID: .generate(), model: "m", provider: "p",
            promptTokens: tokens, completionTokens: tokens, costMicros: cost, priceID: nil, status: 200, finishReason: "stop",
            streamed: false, estimated: false, latencyMilliseconds: 3, createdAt: Date())
    }

    /// SQLite's group commit runs on the ledger's own thread, which yields to requests (Linux's
    /// SCHED_IDLE) while commits keep up and takes its normal share for a backlog, so it never starves;
    /// a backlog-sized batch commits whole. (The policy is read in the same hop that sets it: other
    /// tests' commits share the thread.)
    @Test func theSQLiteCommitYieldsToRequestsUntilItFallsBehind() async throws {
        #if os(Linux)
        let (idle, normal) = try await LedgerThread.pool.runIfActive { () -> (Int32, Int32) in
            LedgerThread.yieldToRequests(true)
            let idle = sched_getscheduler(0)
            LedgerThread.yieldToRequests(false)
            return (idle, sched_getscheduler(0))
        }
        #expect(idle == 5 && normal == SCHED_OTHER)
        #endif
        let services = try await services(.sqlite)
        defer { Task { await services.database.shutdown() } }
        let organization = try await organization(services)
        _ = try await services.credits.account(of: organization)
        let backlog = (0..<LedgerThread.backlog).map { _ in record(organization, cost: 1) }
        #expect(try await services.usage.commit(backlog, mayRepeat: false)[organization] == Micros(LedgerThread.backlog))
    }

    @Test(arguments: TestDatabase.all)
    func aBatchCommittedTwiceIsCountedOnce(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let organization = try await organization(services)
        _ = try await services.credits.account(of: organization)
        let batch = (0..<250).map { record(organization, cost: Micros($0 % 3)) }
        let debits = try await services.usage.commit(batch, mayRepeat: false)
        #expect(debits[organization] == 249)
        // The same records again (a journal replayed after a crash): nothing new.
        // Without looking first, a record already in the ledger fails the whole batch: nothing counts twice.
        await #expect(throws: (any Error).self) { try await services.usage.commit(batch, mayRepeat: false) }
        let again = try await services.usage.commit(batch + [record(organization, cost: 7)], mayRepeat: true)
        #expect(again[organization] == 7)
        let buckets = try await services.usage.buckets(UsageQuery(organizationID: organization))
        #expect(buckets.reduce(0) { $0 + $1.requests } == 251)
        #expect(buckets.reduce(0) { $0 + $1.promptTokens } == 2510)
        let account = try await services.credits.account(of: organization)
        #expect(account.balanceMicros == 1_000 - 256)
        #expect(try await services.credits.ledgerSum(of: organization) == account.balanceMicros)
    }

    /// The dashboard's totals come from `usage_daily`, kept by the group commit: they must equal the
    /// records summed, across days, models and keys, after several commits and a replay.
    @Test(arguments: TestDatabase.all)
    func theDailyTotalsAgreeWithTheRecords(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let organization = try await organization(services)
        _ = try await services.credits.account(of: organization)
        let keys: [APIKeyID] = [.generate(), .generate()]
        var all: [UsageRecord] = []
        for batch in 0..<3 {
            let records = (0..<40).map { index in
                UsageRecord(
                    requestID: "req_\(batch)_\(index)", organizationID: organization, keyID: keys[index % 2], model: index % 3 == 0 ? "a" : "b",
                    provider: "p", promptTokens: index, completionTokens: 2 * index, costMicros: 0, priceID: nil, status: 200,
                    finishReason: "stop", streamed: false, estimated: false, latencyMilliseconds: 1,
                    createdAt: Date(timeIntervalSince1970: 1_795_000_000 + Double(index % 4) * 86_400))
            }
            _ = try await services.usage.commit(records, mayRepeat: batch == 2)
            all += records
        }
        _ = try await services.usage.commit(Array(all.prefix(10)), mayRepeat: true)  // a replay adds nothing
        var expected: [String: (Int, Int, Int)] = [:]
        for record in all {
            let totals = expected["\(record.day)/\(record.model)/\(record.keyID)", default: (0, 0, 0)]
            expected["\(record.day)/\(record.model)/\(record.keyID)"] = (totals.0 + 1, totals.1 + record.promptTokens, totals.2 + record.completionTokens)
        }
        let buckets = try await services.usage.buckets(UsageQuery(organizationID: organization))
        #expect(buckets.count == expected.count)
        for bucket in buckets {
            let want = try #require(expected["\(bucket.day)/\(bucket.model)/\(bucket.keyID)"])
            #expect(bucket.requests == want.0 && bucket.promptTokens == want.1 && bucket.completionTokens == want.2)
        }
        let days = Set(all.map(\.day)).sorted()
        let filtered = try await services.usage.buckets(UsageQuery(organizationID: organization, fromDay: days[1], toDay: days[2], model: "a"))
        #expect(filtered.reduce(0) { $0 + $1.requests } == all.filter { $0.model == "a" && $0.day >= days[1] && $0.day <= days[2] }.count)
    }

    /// Records have no index on their day: a day range is read as a time range, and must give exactly
    /// the records whose day is in it, at the edges of a day too.
    @Test(arguments: TestDatabase.all)
    func aDayRangeOfRecordsIsItsTimeRange(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let organization = try await organization(services)
        _ = try await services.credits.account(of: organization)
        let midnight = 1_795_478_400.0  // 2026-11-24 00:00 UTC
        let times = [midnight - 86_400, midnight - 0.001, midnight, midnight + 86_399.999, midnight + 86_400]
        let records = times.enumerated().map { index, time in
            var edge = record(organization, cost: 0, tokens: 1)
            edge.requestID = "req_edge_\(index)"
            edge.createdAt = Date(timeIntervalSince1970: time)
            return edge
        }
        _ = try await services.usage.commit(records, mayRepeat: false)
        func found(from: String?, to: String?, requestID: String? = nil) async throws -> Set<String> {
            var query = UsageQuery(organizationID: organization, fromDay: from, toDay: to)
            query.requestID = requestID
            return Set(try await services.usage.records(query, limit: 100).map(\.requestID))
        }
        #expect(try await found(from: "2026-11-24", to: "2026-11-24") == ["req_edge_2", "req_edge_3"])
        #expect(try await found(from: nil, to: "2026-11-23") == ["req_edge_0", "req_edge_1"])
        #expect(try await found(from: "2026-11-25", to: nil) == ["req_edge_4"])
        #expect(try await found(from: "2026-11-24", to: "2026-11-24", requestID: "req_edge_1").isEmpty)
        #expect(try await found(from: "2026-11-23", to: "2026-11-24", requestID: "req_edge_1") == ["req_edge_1"])
        var byRequest = UsageQuery(organizationID: organization, fromDay: "2026-11-24", toDay: "2026-11-24")
        byRequest.requestID = "req_edge_3"
        #expect(try await services.usage.buckets(byRequest).map(\.requests) == [1])
    }

    /// SQLite's commits bypass Fluent; what they store must read back through it unchanged.
    @Test(arguments: TestDatabase.all)
    func aCommittedRecordReadsBackAsItWasWritten(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let organization = try await organization(services)
        _ = try await services.credits.account(of: organization)
        let odd = UsageRecord(
            requestID: "req ünïcode ✓ \"quoted\"", organizationID: organization, keyID: .generate(), model: "", provider: nil,
            promptTokens: 0, completionTokens: 1 << 40, costMicros: 5, priceID: UUID(), status: 499, finishReason: nil,
            streamed: true, estimated: true, latencyMilliseconds: 12_345, createdAt: Date(timeIntervalSince1970: 1_795_000_000.25),
            errorMessage: "The upstream said: \"no\" ✓")
        let plain = record(organization, cost: 0)
        _ = try await services.usage.commit([odd, plain], mayRepeat: false)
        let stored = try await services.usage.records(UsageQuery(organizationID: organization), limit: 10)
        #expect(stored.count == 2)
        for record in [odd, plain] {
            let back = try #require(stored.first { $0.id == record.id })
            #expect(back.requestID == record.requestID && back.model == record.model && back.provider == record.provider)
            #expect(back.keyID == record.keyID && back.organizationID == record.organizationID && back.priceID == record.priceID)
            #expect(back.promptTokens == record.promptTokens && back.completionTokens == record.completionTokens && back.costMicros == record.costMicros)
            #expect(back.status == record.status && back.finishReason == record.finishReason && back.latencyMilliseconds == record.latencyMilliseconds)
            #expect(back.streamed == record.streamed && back.estimated == record.estimated && back.errorMessage == record.errorMessage)
            #expect(abs(back.createdAt.timeIntervalSince(record.createdAt)) < 0.001)
        }
        #expect(try await services.credits.account(of: organization).balanceMicros == 1_000 - 5)
    }

    @Test(arguments: TestDatabase.all)
    func theFreeGrantIsGivenOnceEvenWhenAccountsOpenAtOnce(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let organization = try await organization(services)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { _ = try await services.credits.account(of: organization) } }
            try await group.waitForAll()
        }
        let entries = try await services.credits.entries(of: organization)
        #expect(entries.map(\.kind) == [.grant])
        #expect(try await services.credits.account(of: organization).balanceMicros == 1_000)
    }

    /// Staff adjustments cannot walk a balance towards the ends of Int64, where the gate's and the
    /// ledger's arithmetic would overflow.
    @Test(arguments: TestDatabase.all)
    func aBalanceStaysWithinItsBounds(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let organization = try await organization(services)
        var balance = try await services.credits.account(of: organization).balanceMicros
        var refused: AtriumError?
        for _ in 0..<101 {
            do {
                balance = try await services.credits.add(.adjustment, amount: -CreditService.maxAmount, to: organization, description: "test", by: nil)
            } catch let error as AtriumError {
                refused = error
                break
            }
        }
        guard case .invalidRequest(_, let param, _)? = refused else { Issue.record("never refused: \(balance)"); return }
        #expect(param == "amount_micros")
        let stored = try await services.credits.account(of: organization).balanceMicros
        #expect(balance >= -CreditService.maxBalance && balance == stored)
        #expect(services.credits.gate.reserve(organization, amount: .max) != .admitted)
    }

    @Test(arguments: TestDatabase.all)
    func aCodeIsNeverRedeemedMoreOftenThanAllowed(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let code = try await services.credits.createCode(amount: 500, maxRedemptions: 3, expiresAt: nil, by: nil)
        var organizations: [OrganizationID] = []
        for _ in 0..<8 { organizations.append(try await organization(services)) }
        let successes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for organization in organizations {
                group.addTask {
                    do {
                        _ = try await services.credits.redeem(code: code.secret, for: organization)
                        return true
                    } catch let error as AtriumError {
                        guard case .invalidRequest(_, _, "code_exhausted") = error else { throw error }
                        return false
                    }
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(successes == 3)
        for organization in organizations {
            let balance = try await services.credits.account(of: organization).balanceMicros
            #expect(balance == 1_000 || balance == 1_500)
            #expect(try await services.credits.ledgerSum(of: organization) == balance)
        }
    }

    @Test(arguments: TestDatabase.all)
    func pricesAreVersioned(_ database: TestDatabase) async throws {
        let services = try await services(database)
        defer { Task { await services.database.shutdown() } }
        let first = try await services.prices.set(model: "m", inputMicrosPerMillion: 1, outputMicrosPerMillion: 2, by: nil)
        try await Task.sleep(for: .milliseconds(5))
        let second = try await services.prices.set(model: "m", inputMicrosPerMillion: 3, outputMicrosPerMillion: 4, by: nil)
        #expect(services.prices.price(of: "m") == second)
        try await services.prices.reload()
        #expect(services.prices.price(of: "m")?.id == second.id)
        #expect(try await services.prices.history(model: "m").map(\.id) == [second.id, first.id])
        await #expect(throws: AtriumError.self) {
            try await services.prices.set(model: "m", inputMicrosPerMillion: -1, outputMicrosPerMillion: 0, by: nil)
        }
    }
}

@Suite struct UsageJournalTests {
    let directory = "\(FileManager.default.temporaryDirectory.path)/atrium-journal-test-\(UUID().uuidString)"

    func record(_ requestID: String) -> UsageRecord {
        UsageRecord(
            requestID: requestID, organizationID: .generate(), keyID: .generate(), model: "mo\"del\\\n\u{1}é", provider: nil,
            promptTokens: 12, completionTokens: 34, costMicros: 56, priceID: UUID(), status: 499, finishReason: nil,
            streamed: true, estimated: true, latencyMilliseconds: 78, createdAt: Date(timeIntervalSince1970: 1_790_000_000.123))
    }

    @Test func linesRoundTripWhateverTheStrings() {
        let original = record("req_\"quoted\"")
        var failed = record("req_failed")
        failed.errorMessage = "Rate limit \"requests\" reached\\ ✓"
        let (decoded, damaged) = UsageJournal.decode(Data((UsageJournal.encode(original) + UsageJournal.encode(failed)).utf8))
        #expect(damaged == 0)
        #expect(decoded == [original, failed])
        // A line written before error messages existed still reads.
        #expect(!UsageJournal.encode(original).contains("errorMessage"))
        // Milliseconds keep their leading zeros.
        var early = original
        early.createdAt = Date(timeIntervalSince1970: 1_790_000_000.007)
        #expect(UsageJournal.encode(early).hasSuffix(",\"createdAt\":1790000000.007}\n"))
        #expect(UsageJournal.decode(Data(UsageJournal.encode(early).utf8)).records == [early])
    }

    @Test func aJournalNobodyHoldsIsAnOrphanAndACutLineIsSkipped() throws {
        let dead = try UsageJournal(directory: directory)
        dead.append(record("a"))
        dead.append(record("b"))
        // Simulate a crash in the middle of a write: a half line at the end.
        let handle = try #require(FileHandle(forWritingAtPath: dead.path))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"id":"trunc"#.utf8))
        try handle.close()

        let survivor = try UsageJournal(directory: directory)
        #expect(survivor.orphans().isEmpty)  // still held by its (live) writer
        dead.abandon()
        let orphans = survivor.orphans()
        #expect(orphans.count == 1)
        #expect(orphans[0].records.map(\.requestID) == ["a", "b"])
        #expect(orphans[0].damagedLines == 1)
        orphans[0].discard()
        #expect(!FileManager.default.fileExists(atPath: dead.path))
        survivor.close()
    }

    @Test func aBatchNotReportedCommittedIsHandedOutAgainAheadOfLaterRecords() throws {
        let journal = try UsageJournal(directory: directory)
        for id in ["a", "b", "c"] { journal.append(record(id)) }
        let batch = journal.uncommitted(limit: 2)
        journal.append(record("d"))
        #expect(batch.map(\.requestID) == ["a", "b"])
        // The commit failed: the same batch again, not the records that came since.
        #expect(journal.uncommitted(limit: 2).map(\.requestID) == ["a", "b"])
        #expect(journal.uncommittedCount == 4)
        journal.committed(2)
        #expect(journal.uncommitted(limit: 5).map(\.requestID) == ["c", "d"])
        journal.append(record("e"))
        journal.committed(2)
        #expect(journal.uncommitted(limit: 5).map(\.requestID) == ["e"])
        journal.committed(1)
        #expect(journal.uncommittedCount == 0)
        journal.close()
    }

    @Test func stagedLinesReachTheFileAndTheLedgerTogetherWhenWritten() throws {
        let journal = try UsageJournal(directory: directory)
        var staged = UsageJournal.StagedLines()
        journal.stage(record("a"), in: &staged)
        journal.stage(record("b"), in: &staged)
        #expect(journal.uncommittedCount == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: journal.path)[.size] as? Int == 0)
        #expect(journal.write(&staged))
        #expect(staged.isEmpty)
        #expect(journal.uncommitted(limit: 10).map(\.requestID) == ["a", "b"])
        let lines = try String(contentsOfFile: journal.path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        journal.committed(2)
        #expect(try FileManager.default.attributesOfItem(atPath: journal.path)[.size] as? Int == 0)
        journal.close()
    }

    /// A busy server always has records pending, so its journal is never emptied: past its size limit
    /// it moves to a fresh file that holds only the pending records' lines.
    @Test func aJournalThatIsNeverEmptyMovesToAFreshFile() throws {
        let journal = try UsageJournal(directory: directory, rotateAfterBytes: 1)
        let first = journal.path
        for id in ["a", "b", "c"] { journal.append(record(id)) }
        #expect(journal.uncommitted(limit: 2).map(\.requestID) == ["a", "b"])
        journal.committed(2)
        #expect(journal.path != first)
        #expect(!FileManager.default.fileExists(atPath: first))
        func lines() throws -> [String] {
            try String(contentsOfFile: journal.path, encoding: .utf8).split(separator: "\n").map(String.init)
        }
        #expect(try lines().count == 1)
        journal.append(record("d"))
        #expect(try lines().count == 2)
        // The fresh file is held like the first: another instance does not take it for a dead one's.
        let other = try UsageJournal(directory: directory)
        #expect(other.orphans().isEmpty)
        other.close()
        #expect(journal.uncommitted(limit: 5).map(\.requestID) == ["c", "d"])
        journal.committed(2)
        #expect(try FileManager.default.attributesOfItem(atPath: journal.path)[.size] as? Int == 0)
        journal.close()
        #expect(!FileManager.default.fileExists(atPath: journal.path))
    }

    @Test func theFileIsEmptiedOnceEverythingIsCommitted() throws {
        let journal = try UsageJournal(directory: directory)
        for id in ["a", "b", "c"] { journal.append(record(id)) }
        #expect(journal.uncommitted(limit: 2).map(\.requestID) == ["a", "b"])
        journal.committed(2)
        #expect(try FileManager.default.attributesOfItem(atPath: journal.path)[.size] as? Int ?? 0 > 0)
        journal.committed(1)
        #expect(try FileManager.default.attributesOfItem(atPath: journal.path)[.size] as? Int == 0)
        journal.close()
        #expect(!FileManager.default.fileExists(atPath: journal.path))
    }
}
