import AtriumCore
import Testing

@testable import AtriumServer

/// The client behind a trusted proxy: the nearest untrusted address of `X-Forwarded-For`, read from the
/// right; from any other peer the header counts for nothing.
@Suite struct ClientAddressTests {
    let resolver = ClientAddress(trustedProxies: [IPNetwork("10.0.0.0/8")!, IPNetwork("::1")!])

    @Test func aTrustedProxyNamesTheClient() {
        #expect(resolver.resolve(peer: "10.0.0.5", forwardedFor: ["203.0.113.7"]) == "203.0.113.7")
        // Proxies append: what the client wrote itself (the left) is not believed past the first untrusted hop.
        #expect(resolver.resolve(peer: "10.0.0.5", forwardedFor: ["198.51.100.1, 203.0.113.7"]) == "203.0.113.7")
        #expect(resolver.resolve(peer: "10.0.0.5", forwardedFor: ["198.51.100.1, 203.0.113.7, 10.1.2.3"]) == "203.0.113.7")
        #expect(resolver.resolve(peer: "10.0.0.5", forwardedFor: ["198.51.100.1", "203.0.113.7"]) == "203.0.113.7")  // two headers
        #expect(resolver.resolve(peer: "::1", forwardedFor: ["2001:db8::7"]) == "2001:db8::7")
        // Every hop trusted: the farthest one.
        #expect(resolver.resolve(peer: "10.0.0.5", forwardedFor: ["10.9.9.9, 10.1.1.1"]) == "10.9.9.9")
    }

    @Test func anythingElseIsTheConnectionsOwnAddress() {
        #expect(resolver.resolve(peer: "203.0.113.9", forwardedFor: ["10.0.0.1"]) == "203.0.113.9")  // not a trusted proxy
        #expect(resolver.resolve(peer: "10.0.0.5", forwardedFor: []) == "10.0.0.5")
        #expect(resolver.resolve(peer: "10.0.0.5", forwardedFor: ["not-an-address"]) == "10.0.0.5")
        #expect(resolver.resolve(peer: "10.0.0.5", forwardedFor: ["203.0.113.7, 10.0.0.0/8"]) == "10.0.0.5")
        #expect(resolver.resolve(peer: nil, forwardedFor: ["203.0.113.7"]) == nil)
        #expect(ClientAddress(trustedProxies: []).resolve(peer: "10.0.0.5", forwardedFor: ["203.0.113.7"]) == "10.0.0.5")
    }
}
