import AtriumCore
import Synchronization

/// The dashboard's usage charts, each kept until its organization's usage changes. The chart reads a
/// month of daily totals and draws a few hundred SVG elements, while the usage behind it changes only
/// when a group commit lands: the committer tells the cache which organizations it wrote
/// (`usageChanged`), and a chart built before that is built again. Other instances' commits are not
/// seen here, so a chart is also rebuilt once it is `lifetime` old.
final class UsageChartCache: Sendable {
    struct Key: Hashable, Sendable {
        var organization: OrganizationID
        var language: Language
        /// The chart's last day: a new day draws a new chart.
        var lastDay: String
    }

    private struct Entry: Sendable {
        var chart: UsageChart
        var generation: UInt64
        var built: ContinuousClock.Instant
    }

    private struct State: Sendable {
        var entries: [Key: Entry] = [:]
        /// Bumped for an organization whenever its usage is committed.
        var generations: [OrganizationID: UInt64] = [:]
    }

    static let lifetime: Duration = .seconds(30)
    static let capacity = 2_000

    private let state = Mutex(State())

    /// The chart for `key`: the kept one while it is current, else `build`'s (kept for next time).
    func chart(_ key: Key, build: () async throws -> UsageChart) async rethrows -> UsageChart {
        let now = ContinuousClock.now
        let (kept, generation) = state.withLock { state in
            (state.entries[key], state.generations[key.organization, default: 0])
        }
        if let kept, kept.generation == generation, now - kept.built < Self.lifetime { return kept.chart }
        let chart = try await build()
        state.withLock { state in
            if state.entries.count >= Self.capacity { state.entries.removeAll(keepingCapacity: true) }
            // Stamped with the generation read before building: a commit that landed meanwhile makes it stale at once.
            state.entries[key] = Entry(chart: chart, generation: generation, built: now)
        }
        return chart
    }

    /// The organizations whose usage a commit just wrote: their charts are stale.
    func usageChanged(_ organizations: some Sequence<OrganizationID>) {
        state.withLock { state in
            for organization in organizations { state.generations[organization, default: 0] &+= 1 }
        }
    }
}
