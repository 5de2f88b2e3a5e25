import AtriumJSON
import Foundation

extension TemplateValue: JSONDocument {
    /// Parses JSON keeping the key order of objects (Foundation's JSONSerialization loses it, and a
    /// template's `tojson` output depends on it). Integers that fit `Int` stay integers, as in Python.
    public init(json: String) throws {
        self = try Self.parsed(json.utf8)
    }

    public init(jsonData: Data) throws {
        self = try Self.parsed(jsonData)
    }

    private static func parsed(_ bytes: some Collection<UInt8>) throws(TemplateError) -> TemplateValue {
        do { return try JSONParser<TemplateValue>.parse(bytes) } catch { throw TemplateError(.json, error.description) }
    }

    public static var jsonNull: TemplateValue { .none }
    public static func jsonBool(_ value: Bool) -> TemplateValue { .bool(value) }
    public static func jsonInteger(_ value: Int64) -> TemplateValue { .int(Int(value)) }
    public static func jsonNumber(_ value: Double) -> TemplateValue { .double(value) }
    public static func jsonString(_ value: String) -> TemplateValue { .string(value) }
    public static func jsonArray(_ elements: [TemplateValue]) -> TemplateValue { .array(elements) }
    public static func jsonObject(_ members: TemplateObject) -> TemplateValue { .object(members) }
}

extension TemplateObject: JSONMembers {
    public mutating func append(key: String, value: TemplateValue) { self[key] = value }
}
