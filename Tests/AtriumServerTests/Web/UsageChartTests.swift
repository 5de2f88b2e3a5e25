import AtriumCore
import Testing

@testable import AtriumServer

@Suite struct UsageChartTests {
    @Test func axesEndOnRoundNumbersAndBarsStackByModel() {
        #expect([1, 7, 10, 11, 24, 50, 51, 999, 1001].map(UsageChart.niceCeiling) == [1, 10, 10, 20, 50, 50, 100, 1000, 2000])
        let key = APIKeyID.generate()
        let span = (1...30).map { "2026-11-\($0 < 10 ? "0" : "")\($0)" }
        let buckets = [
            UsageBucket(day: "2026-11-30", model: "a", keyID: key, requests: 1, promptTokens: 30, completionTokens: 10, costMicros: 0),
            UsageBucket(day: "2026-11-30", model: "b", keyID: key, requests: 1, promptTokens: 5, completionTokens: 5, costMicros: 0),
            UsageBucket(day: "2026-11-02", model: "b", keyID: key, requests: 1, promptTokens: 1, completionTokens: 0, costMicros: 0),
        ]
        let chart = UsageChart(buckets: buckets, span: span) { key, values in key + values.sorted { $0.key < $1.key }.map { "|\($0.value)" }.joined() }
        #expect(chart.models == ["a", "b"])  // most tokens first
        #expect(chart.segments.count == 3)
        #expect(chart.ticks.map(\.label) == ["0", "25", "50"])
        #expect(chart.rows.map(\.day) == ["2026-11-30", "2026-11-02"])
        #expect(chart.rows.first?.total == "50")
        #expect(chart.days.last?.label == "11-30")
        #expect(chart.summary == "dashboard.chart.summary|51")
        #expect(!chart.isEmpty)
    }

    /// The SVG and the table rows are written by the chart itself: every name in them escaped.
    @Test func theMarkupEscapesWhatItShows() {
        let key = APIKeyID.generate()
        let buckets = [UsageBucket(day: "2026-11-30", model: "<img src=x>", keyID: key, requests: 1, promptTokens: 3, completionTokens: 4, costMicros: 0)]
        let chart = UsageChart(buckets: buckets, span: ["2026-11-29", "2026-11-30"]) { key, values in values["model"].map { "\(key) \($0)" } ?? key }
        #expect(chart.svgHTML.hasPrefix("<svg viewBox=\"0 0 720 220\"") && chart.svgHTML.hasSuffix("</svg>"))
        #expect(chart.svgHTML.components(separatedBy: "<rect ").count == 2)
        #expect(chart.svgHTML.contains("<title>dashboard.chart.segment &lt;img src=x&gt;</title>") && !chart.svgHTML.contains("<img"))
        #expect(chart.rowsHTML == "<tr><th scope=\"row\">2026-11-30</th><td>7</td><td>7</td></tr>")
    }
}
