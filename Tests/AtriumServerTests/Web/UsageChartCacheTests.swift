import AtriumCore
import Synchronization
import Testing

@testable import AtriumServer

/// The dashboard's chart cache: a chart is kept until its organization's usage is committed, per
/// organization, language and last day, and one built while a commit landed is not kept as current.
@Suite struct UsageChartCacheTests {
    func chart(tokens: Int) -> UsageChart {
        let bucket = UsageBucket(day: "2026-12-05", model: "m", keyID: .generate(), requests: 1, promptTokens: tokens, completionTokens: 0, costMicros: 0)
        return UsageChart(buckets: [bucket], span: ["2026-12-05"]) { key, values in key + (values["tokens"] ?? "") }
    }

    @Test func aChartIsKeptUntilItsOrganizationsUsageChanges() async {
        let cache = UsageChartCache()
        let builds = Mutex(0)
        let mine = OrganizationID.generate(), other = OrganizationID.generate()
        let key = UsageChartCache.Key(organization: mine, language: .english, lastDay: "2026-12-05")
        func read(_ key: UsageChartCache.Key, tokens: Int) async -> String {
            await cache.chart(key) {
                builds.withLock { $0 += 1 }
                return chart(tokens: tokens)
            }.summary
        }

        #expect(await read(key, tokens: 1) == "dashboard.chart.summary1")
        #expect(await read(key, tokens: 2) == "dashboard.chart.summary1")  // kept: nothing was committed
        #expect(builds.withLock { $0 } == 1)

        cache.usageChanged([other])
        #expect(await read(key, tokens: 3) == "dashboard.chart.summary1")  // another organization's usage
        cache.usageChanged([mine])
        #expect(await read(key, tokens: 4) == "dashboard.chart.summary4")  // its own: built again
        #expect(await read(key, tokens: 5) == "dashboard.chart.summary4")

        var chinese = key
        chinese.language = .simplifiedChinese
        #expect(await read(chinese, tokens: 6) == "dashboard.chart.summary6")
        var tomorrow = key
        tomorrow.lastDay = "2026-12-06"
        #expect(await read(tomorrow, tokens: 7) == "dashboard.chart.summary7")
        #expect(builds.withLock { $0 } == 4)
    }

    @Test func aChartBuiltWhileACommitLandedIsBuiltAgainNextTime() async {
        let cache = UsageChartCache()
        let organization = OrganizationID.generate()
        let key = UsageChartCache.Key(organization: organization, language: .english, lastDay: "2026-12-05")
        _ = await cache.chart(key) {
            cache.usageChanged([organization])  // the commit lands while the chart's rows are read
            return chart(tokens: 1)
        }
        #expect(await cache.chart(key) { chart(tokens: 2) }.summary == "dashboard.chart.summary2")
    }
}
