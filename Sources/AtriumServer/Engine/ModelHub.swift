import AsyncHTTPClient
import AtriumML
import Foundation
import NIOCore
import NIOHTTP1

/// Downloads a model from a Hugging Face-compatible hub (`/api/models/<repo>/revision/<rev>` lists its
/// files, `/<repo>/resolve/<rev>/<file>` serves each) into the models directory: the files the engine
/// reads go into a staging folder, which is checked by loading it and then renamed into place.
public enum ModelHub {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Pulls `repo` at `revision` as `name`; `progress` hears bytes downloaded and bytes in all.
    /// `token` goes as a bearer token (private repositories).
    @discardableResult
    public static func pull(
        repo: String, revision: String = "main", endpoint: String = "https://huggingface.co", token: String? = nil, into modelsDirectory: URL,
        name: String, replace: Bool = false, progress: @escaping @Sendable (Int64, Int64) -> Void = { _, _ in }
    ) async throws -> URL {
        guard repo.split(separator: "/").count == 2, !repo.contains(".."), repo.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) else {
            throw Failure(description: "\(repo) is not a repository name like owner/model")
        }
        let destination = try ModelImporter.destination(of: name, in: modelsDirectory, replace: replace)
        let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        let listing = try await get("\(base)/api/models/\(repo)/revision/\(revision)?blobs=true", token: token, what: "the file list of \(repo)")
        guard let object = try? JSONSerialization.jsonObject(with: Data(buffer: listing)) as? [String: Any],
            let siblings = object["siblings"] as? [[String: Any]]
        else { throw Failure(description: "the hub's answer for \(repo) is not a model description") }
        let files = siblings.compactMap { sibling -> (path: String, size: Int64)? in
            guard let path = sibling["rfilename"] as? String, ModelImporter.wanted(path), !path.contains("..") else { return nil }
            return (path, Int64(sibling["size"] as? Int ?? 0))
        }
        guard !files.isEmpty else { throw Failure(description: "\(repo) has no files this engine reads") }
        let total = files.reduce(0) { $0 + $1.size }
        let staging = try ModelImporter.makeStaging(for: name, in: modelsDirectory)
        defer { try? FileManager.default.removeItem(at: staging) }
        var done: Int64 = 0
        progress(0, total)
        for file in files {
            let target = staging.appendingPathComponent(file.path)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            let url = "\(base)/\(repo)/resolve/\(revision)/\(file.path.split(separator: "/").map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0) }.joined(separator: "/"))"
            done = try await download(url, to: target, token: token, what: file.path) { bytes in
                progress(done + bytes, max(total, done + bytes))
            } + done
        }
        do {
            try ModelImporter.install(staging, at: destination)
        } catch let error as ModelLoadError {
            throw Failure(description: "\(repo) was downloaded but cannot be served: \(error)")
        }
        return destination
    }

    private static func request(_ url: String, token: String?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "user-agent", value: "atrium")
        if let token { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        return request
    }

    private static func get(_ url: String, token: String?, what: String) async throws -> ByteBuffer {
        let response = try await send(url, token: token, what: what)
        return try await response.body.collect(upTo: 64 << 20)
    }

    private static func send(_ url: String, token: String?, what: String) async throws -> HTTPClientResponse {
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request(url, token: token), timeout: .seconds(60))
        } catch {
            throw Failure(description: "could not reach the hub for \(what): \(error)")
        }
        switch response.status.code {
        case 200: return response
        case 401, 403: throw Failure(description: "the hub refused \(what) (\(response.status.code)); a private repository needs HF_TOKEN")
        case 404: throw Failure(description: "the hub has no \(what) (404)")
        default: throw Failure(description: "the hub answered \(response.status.code) for \(what)")
        }
    }

    /// Streams one file to disk; returns its size.
    private static func download(_ url: String, to target: URL, token: String?, what: String, progress: (Int64) -> Void) async throws -> Int64 {
        let response = try await send(url, token: token, what: what)
        guard FileManager.default.createFile(atPath: target.path, contents: nil), let handle = try? FileHandle(forWritingTo: target) else {
            throw Failure(description: "cannot write \(target.path)")
        }
        defer { try? handle.close() }
        var written: Int64 = 0
        for try await chunk in response.body {
            try handle.write(contentsOf: chunk.readableBytesView)
            written += Int64(chunk.readableBytes)
            progress(written)
        }
        return written
    }
}
