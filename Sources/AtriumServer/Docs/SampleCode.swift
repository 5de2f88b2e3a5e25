/// Sample code for the `/v1` operations, in four languages, generated from one description per
/// operation, so the samples cannot drift apart or from the contract (a test runs the curl, Python and
/// JavaScript ones against a live server).
struct SampleRequest: Sendable {
    enum Operation: String, Sendable, CaseIterable {
        case listModels = "models"
        case chat
        case chatStream = "chat-stream"
        case completion
        case embeddings

        /// The operation that shows off a model of this kind.
        static func example(for kind: ModelKind) -> Operation {
            switch kind {
            case .chat: .chat
            case .completion: .completion
            case .embedding: .embeddings
            }
        }
    }

    var operation: Operation
    var model: String
    /// The body's fields when not the operation's standard example (the playground's settings).
    var fields: [(String, SampleValue)]?

    init(operation: Operation, model: String, fields: [(String, SampleValue)]? = nil) {
        self.operation = operation
        self.model = model
        self.fields = fields
    }

    var method: String { operation == .listModels ? "GET" : "POST" }

    var path: String {
        switch operation {
        case .listModels: "/v1/models"
        case .chat, .chatStream: "/v1/chat/completions"
        case .completion: "/v1/completions"
        case .embeddings: "/v1/embeddings"
        }
    }

    /// The request body, its fields in the order people write them.
    var body: [(String, SampleValue)] {
        if let fields { return [("model", .string(model))] + fields }
        return switch operation {
        case .listModels: []
        case .chat:
            [("model", .string(model)), ("messages", .array([.object([("role", .string("user")), ("content", .string("Say hello in one short sentence."))])])),
             ("max_tokens", .int(32))]
        case .chatStream:
            [("model", .string(model)), ("messages", .array([.object([("role", .string("user")), ("content", .string("Count from one to five."))])])),
             ("max_tokens", .int(32)), ("stream", .bool(true))]
        case .completion:
            [("model", .string(model)), ("prompt", .string("Once upon a time")), ("max_tokens", .int(16))]
        case .embeddings:
            [("model", .string(model)), ("input", .array([.string("The food was delicious."), .string("The meal was great.")]))]
        }
    }
}

/// A JSON value that keeps its fields' order, printed as each language writes literals.
indirect enum SampleValue: Sendable {
    case string(String)
    case int(Int)
    case bool(Bool)
    case array([SampleValue])
    case number(Double)
    case object([(String, SampleValue)])

    /// JSON (and, with `python`, Python's literals: `True`, not `true`).
    func literal(python: Bool = false) -> String {
        switch self {
        case .string(let text): Self.quoted(text)
        case .int(let value): String(value)
        case .number(let value): value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
        case .bool(let value): python ? (value ? "True" : "False") : String(value)
        case .array(let values): "[" + values.map { $0.literal(python: python) }.joined(separator: ", ") + "]"
        case .object(let fields): "{" + fields.map { "\(Self.quoted($0.0)): \($0.1.literal(python: python))" }.joined(separator: ", ") + "}"
        }
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// The four renderings of a sample request against a server at `baseURL`, with the key read from the
/// environment (`ATRIUM_API_KEY`), never written into the code.
enum SampleCode {
    struct Rendered {
        var language: String
        var label: String
        var code: String
    }

    /// The four languages' samples. `keyHint`, for a signed-in reader, is a comment line naming their
    /// key (its prefix only: the secret is never shown again), put first in each.
    static func all(_ request: SampleRequest, baseURL: String, keyHint: String? = nil) -> [Rendered] {
        func hinted(_ code: String, _ comment: String) -> String { keyHint.map { "\(comment) \($0)\n" + code } ?? code }
        return [
            Rendered(language: "curl", label: "curl", code: hinted(curl(request, baseURL: baseURL), "#")),
            Rendered(language: "python", label: "Python", code: hinted(python(request, baseURL: baseURL), "#")),
            Rendered(language: "javascript", label: "JavaScript", code: hinted(javascript(request, baseURL: baseURL), "//")),
            Rendered(language: "swift", label: "Swift", code: hinted(swift(request, baseURL: baseURL), "//")),
        ]
    }

    static func curl(_ request: SampleRequest, baseURL: String) -> String {
        var lines = ["curl \(request.operation == .chatStream ? "-N " : "")\(baseURL)\(request.path)", "  -H \"Authorization: Bearer $ATRIUM_API_KEY\""]
        if request.method == "POST" {
            lines.append("  -H \"Content-Type: application/json\"")
            lines.append("  -d '\(SampleValue.object(request.body).literal().replacingOccurrences(of: "'", with: "'\\''"))'")
        }
        return lines.joined(separator: " \\\n")
    }

    static func python(_ request: SampleRequest, baseURL: String) -> String {
        let arguments = request.body.map { "    \($0.0)=\($0.1.literal(python: true))," }.joined(separator: "\n")
        let call: String
        switch request.operation {
        case .listModels:
            call = "for model in client.models.list():\n    print(model.id)"
        case .chat:
            call = "response = client.chat.completions.create(\n\(arguments)\n)\nprint(response.choices[0].message.content)"
        case .chatStream:
            call = "stream = client.chat.completions.create(\n\(arguments)\n)\nfor chunk in stream:\n    if chunk.choices and chunk.choices[0].delta.content:\n        print(chunk.choices[0].delta.content, end=\"\", flush=True)\nprint()"
        case .completion:
            call = "response = client.completions.create(\n\(arguments)\n)\nprint(response.choices[0].text)"
        case .embeddings:
            call = "response = client.embeddings.create(\n\(arguments)\n)\nfor item in response.data:\n    print(item.index, len(item.embedding))"
        }
        return """
            import os
            from openai import OpenAI

            client = OpenAI(base_url="\(baseURL)/v1", api_key=os.environ["ATRIUM_API_KEY"])
            \(call)
            """
    }

    static func javascript(_ request: SampleRequest, baseURL: String) -> String {
        var options = "  method: \"\(request.method)\",\n  headers: {\n    \"Authorization\": `Bearer ${process.env.ATRIUM_API_KEY}`,"
        if request.method == "POST" {
            options += "\n    \"Content-Type\": \"application/json\",\n  },\n  body: JSON.stringify(\(SampleValue.object(request.body).literal())),"
        } else {
            options += "\n  },"
        }
        let fetch = "const response = await fetch(\"\(baseURL)\(request.path)\", {\n\(options)\n});\nif (!response.ok) throw new Error(`${response.status}: ${await response.text()}`);"
        let use: String
        switch request.operation {
        case .listModels: use = "const { data } = await response.json();\nfor (const model of data) console.log(model.id);"
        case .chat: use = "const answer = await response.json();\nconsole.log(answer.choices[0].message.content);"
        case .completion: use = "const answer = await response.json();\nconsole.log(answer.choices[0].text);"
        case .embeddings: use = "const { data } = await response.json();\nfor (const item of data) console.log(item.index, item.embedding.length);"
        case .chatStream:
            use = """
                // Server-sent events: one JSON chunk per "data:" line, then "data: [DONE]".
                const decoder = new TextDecoder();
                let buffered = "";
                for await (const bytes of response.body) {
                  buffered += decoder.decode(bytes, { stream: true });
                  const lines = buffered.split("\\n");
                  buffered = lines.pop();
                  for (const line of lines) {
                    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
                    const chunk = JSON.parse(line.slice(6));
                    process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
                  }
                }
                console.log();
                """
        }
        return fetch + "\n" + use
    }

    static func swift(_ request: SampleRequest, baseURL: String) -> String {
        var setup = """
            import Foundation
            #if canImport(FoundationNetworking)
            import FoundationNetworking
            #endif

            var request = URLRequest(url: URL(string: "\(baseURL)\(request.path)")!)
            request.httpMethod = "\(request.method)"
            request.setValue("Bearer \\(ProcessInfo.processInfo.environment["ATRIUM_API_KEY"] ?? "")", forHTTPHeaderField: "Authorization")
            """
        if request.method == "POST" {
            setup += """

                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                request.httpBody = Data(#\"\"\"
                \(SampleValue.object(request.body).literal())
                \"\"\"#.utf8)
                """
        }
        return setup + """

            let (data, response) = try await URLSession.shared.data(for: request)
            print((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
            """
    }
}
