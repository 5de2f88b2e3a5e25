import AtriumCore
import Foundation
import Logging
import Synchronization
import Testing

@testable import AtriumPersistence
@testable import AtriumServer

/// A ledger that refuses any batch holding a record of the model "poison", and keeps the rest.
final class PickyLedger: UsageRepository {
    let stored = Mutex<[UsageRecord]>([])

    func commit(_ records: [UsageRecord], mayRepeat: Bool) async throws -> [OrganizationID: Micros] {
        if records.contains(where: { $0.model == "poison" }) { throw PoisonError() }
        stored.withLock { $0 += records }
        return [:]
    }
    func buckets(_ query: UsageQuery) async throws -> [UsageBucket] { [] }
    func records(_ query: UsageQuery, limit: Int) async throws -> [UsageRecord] { [] }
    struct PoisonError: Error {}
}

@Suite struct UsageCommitterTests {
    func record(_ model: String) -> UsageRecord {
        UsageRecord(
            requestID: "req_\(model)", organizationID: .generate(), keyID: .generate(), model: model, provider: nil, promptTokens: 1,
            completionTokens: 1, costMicros: 0, priceID: nil, status: 200, finishReason: nil, streamed: false, estimated: false,
            latencyMilliseconds: 1, createdAt: Date())
    }

    func committer(_ ledger: any UsageRepository) throws -> (UsageCommitter, UsageJournal, AtriumDatabase, directory: String) {
        let directory = "\(FileManager.default.temporaryDirectory.path)/atrium-committer-\(UUID().uuidString)"
        let journal = try UsageJournal(directory: directory)
        let database = try AtriumDatabase(location: .sqliteMemory, logger: testLogger)
        let committer = UsageCommitter(
            journal: journal, usage: ledger,
            credits: CreditGate(repository: SQLCreditRepository(database: database), freeGrant: 0, overdraft: 0),
            spend: SpendTracker(repository: SQLCreditRepository(database: database)),
            prices: PriceBook(repository: SQLPriceRepository(database: database)), interval: .milliseconds(10), logger: testLogger,
            metrics: ServerMetrics(), shared: nil, isDatabaseUp: { true })
        return (committer, journal, database, directory)
    }

    /// A commit takes what is pending when it starts; only a full batch (a backlog) goes on at once.
    @Test func aBacklogCommitsInFullBatchesBackToBack() async throws {
        let ledger = PickyLedger()
        let (committer, journal, database, _) = try committer(ledger)
        for index in 0..<(UsageJournal.batchLimit + 3) { journal.append(record("m\(index)")) }
        #expect(await committer.commitPending() == true)
        #expect(ledger.stored.withLock { $0.count } == UsageJournal.batchLimit + 3)
        #expect(journal.uncommittedCount == 0)
        journal.close()
        await database.shutdown()
    }

    @Test func aRecordTheDatabaseKeepsRefusingIsSetAsideAndTheRestGoIn() async throws {
        let ledger = PickyLedger()
        let (committer, journal, database, directory) = try committer(ledger)
        for model in ["a", "poison", "b"] { journal.append(record(model)) }

        // The first attempts fail whole and keep everything pending (the database may just be down).
        #expect(await committer.commitPending() == false)
        #expect(await committer.commitPending() == false)
        #expect(journal.uncommittedCount == 3)
        // The third sets the refused record aside and commits the others.
        #expect(await committer.commitPending() == true)
        #expect(ledger.stored.withLock { $0.map(\.model) } == ["a", "b"])
        #expect(journal.uncommittedCount == 0)
        let rejected = try String(contentsOfFile: "\(directory)/rejected-usage.jsonl", encoding: .utf8)
        #expect(rejected.contains("\"model\":\"poison\""))
        journal.close()
        await database.shutdown()
    }
}
