import Crypto
import Foundation
import Hummingbird
import NIOCore

/// The stylesheet and the few ES modules the pages use, served under names that carry a hash of their
/// content (`/static/atrium.3f2a9c1b0d.css`), so a browser may keep them for a year and a new release
/// is fetched at once.
struct StaticAssets: Sendable {
    struct Asset: Sendable {
        var path: String
        var contentType: String
        var bytes: ByteBuffer
    }

    /// By file name (`atrium.css`): the hashed path templates link to.
    let paths: [String: String]
    private let byPath: [String: Asset]

    init(directory: URL) throws {
        var paths: [String: String] = [:]
        var byPath: [String: Asset] = [:]
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        for name in names where !name.hasPrefix(".") {
            let data = try Data(contentsOf: directory.appendingPathComponent(name))
            let hash = SHA256.hash(data: data).prefix(5).map { String(format: "%02x", $0) }.joined()
            let stem = (name as NSString).deletingPathExtension, ext = (name as NSString).pathExtension
            let path = "/static/\(stem).\(hash).\(ext)"
            paths[name] = path
            byPath[path] = Asset(path: path, contentType: Self.contentType(ext), bytes: ByteBuffer(bytes: data))
        }
        self.paths = paths
        self.byPath = byPath
    }

    static func bundled() throws -> StaticAssets {
        guard let directory = Bundle.module.url(forResource: "static", withExtension: nil) else {
            throw StringCatalog.Failure(description: "the static files are missing from the bundle")
        }
        return try StaticAssets(directory: directory)
    }

    /// The path of one asset, by file name; templates get them all as `page.assets`.
    func path(_ name: String) -> String { paths[name] ?? "/static/\(name)" }

    /// Names as templates can reach them: `atrium.css` → `atrium_css`.
    var templateNames: [String: String] {
        Dictionary(uniqueKeysWithValues: paths.map { ($0.key.replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_"), $0.value) })
    }

    func addRoutes(to router: Router<AtriumRequestContext>) {
        router.get("static/:name") { request, _ in
            guard let asset = byPath[request.uri.path] else { throw HTTPError(.notFound) }
            return Response(
                status: .ok,
                headers: [
                    .contentType: asset.contentType, .cacheControl: "public, max-age=31536000, immutable",
                    .init("X-Content-Type-Options")!: "nosniff",
                ],
                body: .init(byteBuffer: asset.bytes))
        }
    }

    private static func contentType(_ ext: String) -> String {
        switch ext {
        case "css": "text/css; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "svg": "image/svg+xml"
        case "png": "image/png"
        case "ico": "image/x-icon"
        default: "application/octet-stream"
        }
    }
}
