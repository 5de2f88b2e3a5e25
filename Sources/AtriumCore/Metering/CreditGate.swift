import Foundation
import Synchronization

/// Decides on the hot path whether an organization may spend, without a database round trip.
///
/// For each organization seen, it keeps the committed balance (as the database had it, plus what this
/// instance has changed since), the cost of requests admitted but not finished (`reserved`), and the
/// cost of requests finished but not yet committed to the ledger (`pending`). A request is admitted
/// when the balance left after all of those, and after its own reservation, stays at or above minus the
/// overdraft.
public final class CreditGate: Sendable {
    struct State {
        var committed: Micros
        var reserved: Micros = 0
        var pending: Micros = 0
        var plan: String?
        var monthlyBudget: Micros?
        var available: Micros { committed.clampedSubtracting(reserved).clampedSubtracting(pending) }
    }

    public enum Decision: Sendable, Equatable {
        case admitted
        case insufficient(available: Micros)
        /// The organization's account is not in memory yet: `load` it (the caller may wait, the hot path
        /// hands the request to the slower path).
        case unknown
    }

    private let repository: any CreditRepository
    private let clock: any TimeSource
    public let freeGrant: Micros
    public let overdraft: Micros
    private let states = Mutex<[OrganizationID: State]>([:])

    public init(repository: any CreditRepository, freeGrant: Micros, overdraft: Micros, clock: any TimeSource = SystemTimeSource()) {
        self.repository = repository
        self.freeGrant = freeGrant
        self.overdraft = overdraft
        self.clock = clock
    }

    /// Reads (or opens, with the free grant) the organization's account into memory.
    public func load(_ organization: OrganizationID) async throws {
        if states.withLock({ $0[organization] != nil }) { return }
        let account = try await repository.openAccount(organization, freeGrant: freeGrant, at: clock.now())
        states.withLock { states in
            if states[organization] == nil {
                states[organization] = State(committed: account.balanceMicros, plan: account.plan, monthlyBudget: account.monthlyBudget)
            }
        }
    }

    /// What the hot path needs of an organization whose account is in memory.
    public struct Standing: Sendable, Equatable {
        /// nil: the default plan.
        public var plan: String?
        public var monthlyBudget: Micros?
    }

    /// nil when the organization's account is not in memory yet.
    public func standing(of organization: OrganizationID) -> Standing? {
        states.withLock { $0[organization].map { Standing(plan: $0.plan, monthlyBudget: $0.monthlyBudget) } }
    }

    public func reserve(_ organization: OrganizationID, amount: Micros) -> Decision {
        states.withLock { states in
            guard var state = states[organization] else { return .unknown }
            guard state.available.clampedSubtracting(amount) >= -overdraft else { return .insufficient(available: state.available) }
            state.reserved.clampedAdd(amount)
            states[organization] = state
            return .admitted
        }
    }

    /// A request finished: its reservation is released and its real cost waits for the ledger.
    public func settle(_ organization: OrganizationID, reserved: Micros, cost: Micros) {
        states.withLock { states in
            // Read and written back, as `reserve` does: changing it in place through the optional
            // subscript heap-allocated the accessor's frame, twice a request.
            guard var state = states[organization] else { return }
            state.reserved.clampedSubtract(reserved)
            state.pending.clampedAdd(cost)
            states[organization] = state
        }
    }

    /// A batch of records reached the ledger: their cost (`pending`, per organization) is no longer
    /// pending, and what this commit debited (`debited`: less than that when a retried commit found
    /// records already in) comes off the committed balance.
    public func committed(pending: [OrganizationID: Micros], debited: [OrganizationID: Micros]) {
        states.withLock { states in
            for (organization, amount) in pending { states[organization]?.pending.clampedSubtract(amount) }
            for (organization, amount) in debited { states[organization]?.committed.clampedSubtract(amount) }
        }
    }

    /// Debits of records this instance did not have pending (replayed from a dead instance's journal).
    public func replayed(_ debits: [OrganizationID: Micros]) {
        states.withLock { states in
            for (organization, amount) in debits { states[organization]?.committed.clampedSubtract(amount) }
        }
    }

    /// Credit added or taken outside the hot path (a grant, a redemption) by this instance.
    public func credited(_ organization: OrganizationID, amount: Micros) {
        states.withLock { $0[organization]?.committed.clampedAdd(amount) }
    }

    public func planChanged(_ organization: OrganizationID, to plan: String?) {
        states.withLock { $0[organization]?.plan = plan }
    }

    public func budgetChanged(_ organization: OrganizationID, to monthlyBudget: Micros?) {
        states.withLock { $0[organization]?.monthlyBudget = monthlyBudget }
    }

    /// Re-reads the committed balances and plans of the organizations in memory, to see changes made by
    /// other instances or the CLI. Call it from the task that commits usage, between two commits, so no
    /// commit of this instance is half-counted. (A grant or redemption made here while it reads may be
    /// missed or counted twice until the next refresh, two seconds later.)
    public func refresh() async throws {
        let organizations = states.withLock { Array($0.keys) }
        for chunk in organizations.chunks(of: 500) {
            let accounts = try await repository.accounts(Array(chunk))
            states.withLock { states in
                for account in accounts {
                    states[account.organizationID]?.committed = account.balanceMicros
                    states[account.organizationID]?.plan = account.plan
                    states[account.organizationID]?.monthlyBudget = account.monthlyBudget
                }
            }
        }
    }
}
