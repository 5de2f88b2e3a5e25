import AtriumCore
import Foundation
import HTTPTypes
import Hummingbird

/// Where a request came from. Behind a reverse proxy the TCP peer is the proxy, so when the peer is one
/// of the `trusted_proxies`, the client is the nearest address in `X-Forwarded-For` that is not itself
/// a trusted proxy (read from the right: the proxies append, and only what they appended is true).
/// From any other peer the header is ignored, so nobody can choose their own address by sending it.
/// The answer is what key networks, throttles and the audit log see.
struct ClientAddress: Sendable {
    let trustedProxies: [IPNetwork]

    func resolve(peer: String?, forwardedFor: [String]) -> String? {
        guard let peer, !trustedProxies.isEmpty, isTrusted(peer), !forwardedFor.isEmpty else { return peer }
        var client = peer
        for hop in forwardedFor.joined(separator: ",").split(separator: ",").reversed() {
            let address = hop.trimmingCharacters(in: .whitespaces)
            guard IPNetwork(address) != nil, !address.contains("/") else { return client }  // not an address: what was before it is all we know
            client = address
            guard isTrusted(address) else { return address }
        }
        return client
    }

    /// Sets each request's `clientAddress` before anything reads it.
    struct Middleware: RouterMiddleware {
        typealias Context = AtriumRequestContext
        let resolver: ClientAddress

        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            var context = context
            context.clientAddress = resolver.resolve(peer: context.channel.remoteAddress?.ipAddress, forwardedFor: request.headers[values: .xForwardedFor])
            return try await next(request, context)
        }
    }

    private func isTrusted(_ address: String) -> Bool { trustedProxies.contains { $0.contains(address) } }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
