import Testing

@testable import AtriumCore

@Suite struct MicrosUnitsTests {
    @Test(arguments: [("12", 12_000_000), ("12.5", 12_500_000), ("0.000001", 1), ("0", 0), ("999999999999.999999", 999_999_999_999_999_999)] as [(String, Int64)])
    func unitsAreReadExactly(_ text: String, _ micros: Int64) {
        #expect(Micros(units: text) == micros)
    }

    @Test(arguments: ["", "-5", "+5", "1.", ".5", "1.0000001", "1e9", "1,5", "١٢", "abc", "1000000000000", " 1"])
    func anythingElseIsRefused(_ text: String) {
        #expect(Micros(units: text) == nil)
    }
}
