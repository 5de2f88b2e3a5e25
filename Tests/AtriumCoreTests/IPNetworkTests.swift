import Testing

@testable import AtriumCore

@Suite struct IPNetworkTests {
    @Test func rangesContainTheirAddressesAndNoOthers() throws {
        let v4 = try #require(IPNetwork("203.0.113.0/24"))
        #expect(v4.contains("203.0.113.0") && v4.contains("203.0.113.255") && !v4.contains("203.0.114.1"))
        #expect(v4.contains("::ffff:203.0.113.7"))  // an IPv4 client on an IPv6 socket
        #expect(!v4.contains("2001:db8::1") && !v4.contains("not an address") && !v4.contains(""))
        let v6 = try #require(IPNetwork("2001:db8::/32"))
        #expect(v6.contains("2001:db8:ffff::1") && !v6.contains("2001:db9::1") && !v6.contains("203.0.113.1"))
        let one = try #require(IPNetwork("127.0.0.1"))
        #expect(one.description == "127.0.0.1/32" && one.contains("127.0.0.1") && !one.contains("127.0.0.2"))
        let everything = try #require(IPNetwork("0.0.0.0/0"))
        #expect(everything.contains("198.51.100.9") && !everything.contains("::1"))
        #expect(try #require(IPNetwork("::/0")).contains("::1"))
    }

    @Test func theHostBitsAreDroppedFromTheDescription() {
        #expect(IPNetwork("10.1.2.3/8")?.description == "10.0.0.0/8")
        #expect(IPNetwork(" 2001:DB8:0:0:1::/64 ")?.description == "2001:db8::/64")
        #expect(IPNetwork("10.1.2.3/8") == IPNetwork("10.0.0.0/8"))
    }

    @Test(arguments: ["", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0/8", "2001:db8::/129", "10.0.0.0/8/8", "example.com", "10.0.0.0/ 8", "1.2.3.4/٣"])
    func nonsenseIsRefused(_ text: String) {
        #expect(IPNetwork(text) == nil)
    }
}
