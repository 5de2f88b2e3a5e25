import Testing
import HummingbirdTesting
@Test func placeholder2() { #expect(true) }
