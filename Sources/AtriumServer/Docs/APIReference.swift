import Foundation
import Yams

/// The API reference, read from the contract (`openapi.yaml`) in its own order and written once, at
/// start, as HTML: every operation under its tag (method and path, what it does, how it
/// authenticates, its parameters, its request body's fields and its responses), then every schema.
/// Each operation and schema has an anchor (`#op-createChatCompletion`, `#schema-Key`) to link to.
/// The contract's own words are English in both languages; the headings follow the reader's.
struct APIReference: Sendable {
    struct Operation: Sendable {
        var anchor: String
        var method: String
        var path: String
        var summary: String
    }

    struct Section: Sendable {
        var tag: String
        var operations: [Operation]
    }

    let sections: [Section]
    /// The reference's body in each language (its headings are the catalog's).
    private let html: [Language: String]

    func body(_ language: Language) -> String { html[language] ?? "" }

    static func bundled(catalog: StringCatalog) throws -> APIReference {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw ConfigError(description: "openapi.yaml is missing from the build")
        }
        return try APIReference(yaml: String(contentsOf: url, encoding: .utf8), catalog: catalog)
    }

    init(yaml: String, catalog: StringCatalog) throws {
        guard let root = try Yams.compose(yaml: yaml) else { throw ConfigError(description: "openapi.yaml is empty") }
        let contract = Contract(root: root)
        sections = contract.sections
        var html: [Language: String] = [:]
        for language in Language.allCases {
            html[language] = Writer(contract: contract, words: { catalog.text("docs.reference.\($0)", language) }).write()
        }
        self.html = html
    }
}

/// The parts of the contract the reference shows, in the file's order.
private struct Contract {
    struct Field {
        var name: String
        var type: String
        var required: Bool
        var description: String
    }

    struct Response {
        var status: String
        var description: String
        var schema: String?
    }

    struct Operation {
        var id: String
        var method: String
        var path: String
        var summary: String
        var description: String
        var auth: String?
        var parameters: [(location: String, field: Field)]
        var body: (schema: String?, fields: [Field])?
        var responses: [Response]
    }

    let root: Node
    var sections: [APIReference.Section] = []
    var operations: [String: [Operation]] = [:]
    var tags: [String] = []
    var schemas: [(name: String, description: String, fields: [Field])] = []

    init(root: Node) {
        self.root = root
        tags = (root["tags"]?.sequence ?? []).compactMap { $0["name"]?.string }
        for (pathNode, item) in root["paths"]?.mapping ?? [:] {
            guard let path = pathNode.string else { continue }
            let shared = (item["parameters"]?.sequence ?? []).map(resolved)
            for (methodNode, node) in item.mapping ?? [:] {
                guard let method = methodNode.string, ["get", "post", "put", "patch", "delete"].contains(method) else { continue }
                let tag = node["tags"]?.sequence?.first?.string ?? "Other"
                if !tags.contains(tag) { tags.append(tag) }
                operations[tag, default: []].append(operation(node, method: method, path: path, shared: shared))
            }
        }
        sections = tags.compactMap { tag in
            operations[tag].map { ops in
                APIReference.Section(tag: tag, operations: ops.map { APIReference.Operation(anchor: "op-\($0.id)", method: $0.method.uppercased(), path: $0.path, summary: $0.summary) })
            }
        }
        for (nameNode, schema) in root["components"]?["schemas"]?.mapping ?? [:] {
            guard let name = nameNode.string else { continue }
            schemas.append((name, schema["description"]?.string ?? "", fields(of: schema)))
        }
    }

    private func operation(_ node: Node, method: String, path: String, shared: [Node]) -> Operation {
        let parameters = (shared + (node["parameters"]?.sequence ?? []).map(resolved)).map { parameter in
            (parameter["in"]?.string ?? "", Field(
                name: parameter["name"]?.string ?? "", type: type(of: parameter["schema"]), required: parameter["required"]?.bool ?? false,
                description: parameter["description"]?.string ?? parameter["schema"]?["description"]?.string ?? ""))
        }
        var body: (String?, [Field])?
        if let schema = node["requestBody"]?["content"]?["application/json"]?["schema"] {
            body = (reference(schema), fields(of: resolved(schema)))
        }
        let responses = (node["responses"]?.mapping ?? [:]).map { statusNode, value -> Response in
            let response = resolved(value)
            let schema = response["content"]?["application/json"]?["schema"] ?? response["content"]?["text/plain"]?["schema"]
            return Response(status: statusNode.string ?? "", description: response["description"]?.string ?? "", schema: schema.flatMap(reference))
        }
        let auth = node["security"]?.sequence?.first?.mapping?.first?.key.string
        return Operation(
            id: node["operationId"]?.string ?? "\(method)-\(path)", method: method, path: path, summary: node["summary"]?.string ?? "",
            description: node["description"]?.string ?? "", auth: auth, parameters: parameters, body: body, responses: responses)
    }

    /// The properties of an object schema, its required ones marked.
    func fields(of schema: Node) -> [Field] {
        let required = Set((schema["required"]?.sequence ?? []).compactMap(\.string))
        return (schema["properties"]?.mapping ?? [:]).compactMap { nameNode, property in
            guard let name = nameNode.string else { return nil }
            return Field(
                name: name, type: type(of: property), required: required.contains(name),
                description: [property["description"]?.string, limits(of: property)].compactMap { $0 }.joined(separator: " "))
        }
    }

    /// A schema's type as a reader says it: `string`, `integer or null`, `array of Message`, `one of: a, b`.
    func type(of schema: Node?) -> String {
        guard let schema else { return "" }
        if let name = reference(schema) { return name }
        if let values = schema["enum"]?.sequence { return "one of: " + values.compactMap(\.string).joined(separator: ", ") }
        if let value = schema["const"]?.string { return "\"\(value)\"" }
        if let choices = schema["oneOf"]?.sequence ?? schema["anyOf"]?.sequence { return choices.map { type(of: $0) }.joined(separator: " or ") }
        let names = schema["type"]?.sequence?.compactMap(\.string) ?? schema["type"]?.string.map { [$0] } ?? []
        return names.map { name in
            name == "array" ? "array of \(type(of: schema["items"]))" : name
        }.joined(separator: " or ")
    }

    /// A field's bounds as a sentence: `From 0 to 2.`, `At most 200 characters.`; nil when it has none.
    func limits(of schema: Node) -> String? {
        var parts: [String] = []
        let minimum = schema["minimum"]?.string, maximum = schema["maximum"]?.string
        switch (minimum, maximum) {
        case let (low?, high?): parts.append("From \(low) to \(high).")
        case let (low?, nil): parts.append("At least \(low).")
        case let (nil, high?): parts.append("At most \(high).")
        default: break
        }
        if let length = schema["maxLength"]?.string { parts.append("At most \(length) characters.") }
        if let items = schema["maxItems"]?.string { parts.append("At most \(items) items.") }
        if let value = schema["default"]?.string { parts.append("Default `\(value)`.") }
        return parts.isEmpty ? nil : parts.joined(separator: " ")
    }

    /// `Key` for `{$ref: "#/components/schemas/Key"}`.
    func reference(_ schema: Node) -> String? {
        guard let ref = schema["$ref"]?.string, ref.hasPrefix("#/components/schemas/") else { return nil }
        return String(ref.dropFirst("#/components/schemas/".count))
    }

    /// The node a `$ref` points at (`#/components/…`), or the node itself.
    func resolved(_ node: Node) -> Node {
        guard let ref = node["$ref"]?.string, ref.hasPrefix("#/") else { return node }
        var target: Node? = root
        for part in ref.dropFirst(2).split(separator: "/") { target = target?[String(part)] }
        return target ?? node
    }
}

/// Writes the reference's HTML; every text from the contract escaped, its `code` spans kept.
private struct Writer {
    let contract: Contract
    let words: (String) -> String

    func write() -> String {
        var html = ""
        for tag in contract.tags {
            guard let operations = contract.operations[tag] else { continue }
            html += "<section aria-labelledby=\"tag-\(slug(tag))\"><h2 id=\"tag-\(slug(tag))\">\(escape(tag))</h2>"
            for operation in operations { html += write(operation) }
            html += "</section>"
        }
        html += "<section aria-labelledby=\"schemas\"><h2 id=\"schemas\">\(escape(words("schemas")))</h2>"
        for schema in contract.schemas {
            html += "<section class=\"reference-item\" aria-labelledby=\"schema-\(schema.name)\"><h3 id=\"schema-\(schema.name)\"><code>\(escape(schema.name))</code></h3>"
            if !schema.description.isEmpty { html += "<p>\(prose(schema.description))</p>" }
            if !schema.fields.isEmpty { html += table(schema.fields) }
            html += "</section>"
        }
        return html + "</section>"
    }

    private func write(_ operation: Contract.Operation) -> String {
        var html = "<section class=\"reference-item\" aria-labelledby=\"op-\(operation.id)\">"
        html += "<h3 id=\"op-\(operation.id)\"><span class=\"method method-\(operation.method)\">\(operation.method.uppercased())</span> <code>\(escape(operation.path))</code></h3>"
        html += "<p>\(prose(operation.summary))</p>"
        if !operation.description.isEmpty { html += "<p>\(prose(operation.description))</p>" }
        html += "<p class=\"hint\">\(escape(words("auth"))): \(escape(words("auth_\(operation.auth ?? "none")")))</p>"
        if !operation.parameters.isEmpty {
            html += "<h4>\(escape(words("parameters")))</h4>" + table(operation.parameters.map { location, field in
                var field = field
                field.type += " · " + location
                return field
            })
        }
        if let body = operation.body {
            html += "<h4>\(escape(words("request_body")))"
            if let schema = body.schema { html += " · <a href=\"#schema-\(schema)\"><code>\(escape(schema))</code></a>" }
            html += "</h4>"
            if !body.fields.isEmpty { html += table(body.fields) }
        }
        html += "<h4>\(escape(words("responses")))</h4><ul class=\"responses\">"
        for response in operation.responses {
            html += "<li><code>\(escape(response.status))</code> \(prose(response.description))"
            if let schema = response.schema { html += " · <a href=\"#schema-\(schema)\"><code>\(escape(schema))</code></a>" }
            html += "</li>"
        }
        return html + "</ul></section>"
    }

    private func table(_ fields: [Contract.Field]) -> String {
        var html = "<div class=\"table-wrap\"><table><thead><tr><th scope=\"col\">\(escape(words("field")))</th><th scope=\"col\">\(escape(words("type")))</th><th scope=\"col\">\(escape(words("description")))</th></tr></thead><tbody>"
        for field in fields {
            html += "<tr><th scope=\"row\"><code>\(escape(field.name))</code>"
            if field.required { html += " <span class=\"required\">\(escape(words("required")))</span>" }
            html += "</th><td>\(typeHTML(field.type))</td><td>\(prose(field.description))</td></tr>"
        }
        return html + "</tbody></table></div>"
    }

    /// A type, its schema names linked to their anchors.
    private func typeHTML(_ type: String) -> String {
        let names = Set(contract.schemas.map(\.name))
        return type.split(separator: " ", omittingEmptySubsequences: false).map { word in
            let bare = String(word)
            return names.contains(bare) ? "<a href=\"#schema-\(bare)\"><code>\(escape(bare))</code></a>" : escape(bare)
        }.joined(separator: " ")
    }

    /// Escaped text with Markdown's `code` spans.
    private func prose(_ text: String) -> String {
        let parts = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "`", omittingEmptySubsequences: false)
        return parts.enumerated().map { index, part in index % 2 == 1 ? "<code>\(escape(String(part)))</code>" : escape(String(part)) }.joined()
    }

    private func escape(_ text: String) -> String { HTMLText.escape(text) }

    private func slug(_ text: String) -> String { text.lowercased().filter { $0.isLetter || $0.isNumber } }
}
