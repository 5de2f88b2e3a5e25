import Foundation
import Testing

@testable import AtriumServer

@Suite struct PageFormatTests {
    @Test func timesAreWrittenInUTC() {
        let date = Date(timeIntervalSince1970: 1_796_486_949.9)  // 2026-12-05T16:09:09.9Z
        #expect(PageFormat.date(date) == "2026-12-05 16:09 UTC")
        #expect(PageFormat.time(date) == "12-05 16:09:09")
        #expect(PageFormat.date(Date(timeIntervalSince1970: 0)) == "1970-01-01 00:00 UTC")
    }

    @Test func placeholdersAreFilledInOnePass() {
        #expect(StringCatalog.fill("{a} and {b}, {a}", ["a": "x", "b": "{a}"]) == "x and {a}, x")
        #expect(StringCatalog.fill("{unknown} stays, { and } too", ["a": "x"]) == "{unknown} stays, { and } too")
        #expect(StringCatalog.fill("open {a", ["a": "x"]) == "open {a")
        #expect(StringCatalog.fill("中文 {name}！", ["name": "张伟"]) == "中文 张伟！")
    }

    @Test func chartCoordinatesHaveOneDecimal() {
        #expect(UsageChart.number(56) == "56.0" && UsageChart.number(12.34) == "12.3" && UsageChart.number(-0.45) == "-0.5"
            && UsageChart.number(0.04) == "0.0")
    }
}
