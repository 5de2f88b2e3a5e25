import Testing

@testable import AtriumServer

@Suite struct DocsLibraryTests {
    @Test func everyGuideIsWrittenInBothLanguagesWithTheSameSamples() throws {
        let docs = try DocsLibrary.bundled()
        let english = docs.guides(.english), chinese = docs.guides(.simplifiedChinese)
        #expect(english.map(\.slug) == chinese.map(\.slug))
        #expect(english.map(\.slug).first == "getting-started")
        func samples(_ guide: DocsLibrary.Guide) -> [String] {
            guide.parts.compactMap { if case .sample(let operation) = $0 { operation.rawValue } else { nil } }
        }
        for (en, zh) in zip(english, chinese) {
            #expect(samples(en) == samples(zh), "\(en.slug)")
            #expect(!en.title.isEmpty && !zh.title.isEmpty && en.title != zh.title)
        }
        // Every /v1 operation with a sample appears in some guide.
        let shown = Set(english.flatMap(samples))
        #expect(shown == Set(SampleRequest.Operation.allCases.map(\.rawValue)))
    }
}
