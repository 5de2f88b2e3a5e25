import AtriumCore
import Foundation

/// A 30-day usage chart as an SVG drawn on the server: one stacked bar per day, a colour per model
/// (CSS classes, so light and dark themes colour it), a `<title>` on every segment for the hover
/// details (no JavaScript needed), and the same numbers as a table for screen readers and copying.
/// The SVG and the table's rows are written here rather than by the template: a busy month has
/// hundreds of segments, and the template engine's lookups made them the dashboard's main cost.
struct UsageChart: TemplateFields, Sendable {
    struct Segment: TemplateFields {
        var x: String
        var y: String
        var width: String
        var height: String
        var series: Int
        var title: String
    }

    struct Tick: TemplateFields {
        var y: String
        var label: String
    }

    struct DayLabel: TemplateFields {
        var x: String
        var label: String
    }

    struct Legend: TemplateFields {
        var series: Int
        var model: String
        var total: String
    }

    struct Row: TemplateFields {
        var day: String
        var cells: [String]
        var total: String
    }

    static let width = 720.0, height = 220.0, left = 56.0, bottom = 24.0, top = 8.0

    var segments: [Segment] = []
    var ticks: [Tick] = []
    var days: [DayLabel] = []
    var legend: [Legend] = []
    var models: [String] = []
    var rows: [Row] = []
    var isEmpty: Bool
    var summary: String
    /// The `<svg>` element, its text escaped.
    var svgHTML = ""
    /// The table's `<tr>` rows, newest day first, escaped.
    var rowsHTML = ""

    /// `span` is the chart's days, oldest first (`YYYY-MM-DD`); `buckets` the organization's usage in
    /// them; `text` gives the catalog's words (`dashboard.chart.*`).
    init(buckets: [UsageBucket], span: [String], text: (String, [String: String]) -> String) {
        var tokens: [String: [String: Int]] = [:]  // day → model → tokens
        var byModel: [String: Int] = [:]
        for bucket in buckets {
            let total = bucket.totalTokens
            tokens[bucket.day, default: [:]][bucket.model, default: 0] += total
            byModel[bucket.model, default: 0] += total
        }
        models = byModel.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map(\.key)
        let series = Dictionary(uniqueKeysWithValues: models.enumerated().map { ($0.element, $0.offset % 8) })
        let dailyTotals = span.map { day in tokens[day]?.values.reduce(0, +) ?? 0 }
        let peak = max(1, dailyTotals.max() ?? 1)
        let scale = Self.niceCeiling(peak)
        isEmpty = byModel.isEmpty
        summary = text("dashboard.chart.summary", ["tokens": PageFormat.integer(byModel.values.reduce(0, +))])

        let plotWidth = Self.width - Self.left - 8, plotHeight = Self.height - Self.top - Self.bottom
        let slot = plotWidth / Double(max(1, span.count)), barWidth = max(2, slot * 0.7)
        for (index, day) in span.enumerated() {
            let x = Self.left + Double(index) * slot + (slot - barWidth) / 2
            var base = Self.height - Self.bottom
            for model in models {
                guard let value = tokens[day]?[model], value > 0 else { continue }
                let h = max(1, plotHeight * Double(value) / Double(scale))
                base -= h
                segments.append(Segment(
                    x: Self.number(x), y: Self.number(base), width: Self.number(barWidth), height: Self.number(h), series: series[model] ?? 0,
                    title: text("dashboard.chart.segment", ["day": day, "model": model, "tokens": PageFormat.integer(value)])))
            }
            if (span.count - 1 - index) % 7 == 0 {  // weekly, counted back from today
                days.append(DayLabel(x: Self.number(x + barWidth / 2), label: String(day.dropFirst(5))))
            }
        }
        ticks = [0, scale / 2, scale].map { value in
            Tick(y: Self.number(Self.height - Self.bottom - plotHeight * Double(value) / Double(scale)), label: Self.short(value))
        }
        legend = models.map { Legend(series: series[$0] ?? 0, model: $0, total: PageFormat.integer(byModel[$0, default: 0])) }
        rows = span.reversed().compactMap { day in
            guard let perModel = tokens[day] else { return nil }
            return Row(day: day, cells: models.map { PageFormat.integer(perModel[$0] ?? 0) }, total: PageFormat.integer(perModel.values.reduce(0, +)))
        }
        svgHTML = svg()
        rowsHTML = rows.map { row in
            "<tr><th scope=\"row\">\(HTMLText.escape(row.day))</th>" + row.cells.map { "<td>\($0)</td>" }.joined() + "<td>\(row.total)</td></tr>"
        }.joined()
    }

    private func svg() -> String {
        var svg = "<svg viewBox=\"0 0 \(Int(Self.width)) \(Int(Self.height))\" role=\"img\" aria-labelledby=\"chart-summary\" preserveAspectRatio=\"xMidYMid meet\">"
        for tick in ticks {
            svg += "<line class=\"grid\" x1=\"56\" x2=\"712\" y1=\"\(tick.y)\" y2=\"\(tick.y)\"/>"
            svg += "<text class=\"axis\" x=\"48\" y=\"\(tick.y)\" text-anchor=\"end\" dominant-baseline=\"middle\">\(tick.label)</text>"
        }
        for (index, day) in days.enumerated() {
            // Today's label sits under the last bar, at the chart's edge: it ends there rather than
            // being centred and cut off (on a phone the axis text is larger next to the bars).
            let isToday = index == days.count - 1
            let x = isToday ? Self.number(Self.width - 2) : day.x
            svg += "<text class=\"axis\" x=\"\(x)\" y=\"214\" text-anchor=\"\(isToday ? "end" : "middle")\">\(HTMLText.escape(day.label))</text>"
        }
        for segment in segments {
            svg += "<rect class=\"series-\(segment.series)\" x=\"\(segment.x)\" y=\"\(segment.y)\" width=\"\(segment.width)\" height=\"\(segment.height)\" tabindex=\"0\">"
            svg += "<title>\(HTMLText.escape(segment.title))</title></rect>"
        }
        return svg + "</svg>"
    }

    /// The smallest of 1, 2, 5 × 10ⁿ at or above `value`: round numbers on the axis.
    static func niceCeiling(_ value: Int) -> Int {
        var magnitude = 1
        while magnitude <= value / 10 { magnitude *= 10 }
        for step in [1, 2, 5, 10] where step * magnitude >= value { return step * magnitude }
        return 10 * magnitude
    }

    /// `12k`, `3.4M`: an axis label.
    static func short(_ value: Int) -> String {
        switch value {
        case 1_000_000...: return trimmed(Double(value) / 1_000_000) + "M"
        case 1_000...: return trimmed(Double(value) / 1_000) + "k"
        default: return String(value)
        }
    }

    private static func trimmed(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    /// One decimal, as SVG coordinates take it (no Foundation formatting: a chart writes hundreds).
    static func number(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths < 0 ? "-" : "")\(tenths.magnitude / 10).\(tenths.magnitude % 10)"
    }
}

// The chart's parts go to the template by hand-written dictionaries: a busy month has hundreds of them.
extension UsageChart {
    /// What the template reads: the SVG and the table's rows are already written, so the segments,
    /// ticks and rows they were written from are not handed over again.
    var templateFields: [String: Any] {
        ["isEmpty": isEmpty, "summary": summary, "legend": legend.map(\.templateFields), "models": models, "svgHTML": svgHTML, "rowsHTML": rowsHTML]
    }
}

extension UsageChart.Segment {
    var templateFields: [String: Any] { ["x": x, "y": y, "width": width, "height": height, "series": series, "title": title] }
}

extension UsageChart.Tick {
    var templateFields: [String: Any] { ["y": y, "label": label] }
}

extension UsageChart.DayLabel {
    var templateFields: [String: Any] { ["x": x, "label": label] }
}

extension UsageChart.Legend {
    var templateFields: [String: Any] { ["series": series, "model": model, "total": total] }
}

extension UsageChart.Row {
    var templateFields: [String: Any] { ["day": day, "cells": cells, "total": total] }
}
