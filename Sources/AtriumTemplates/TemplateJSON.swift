import Foundation

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=indent, separators=separators,
/// sort_keys=sort_keys)`, byte for byte (Python's float repr, its escapes and its indentation).
enum TemplateJSON {
    static func dumps(
        _ value: JinjaValue, ensureASCII: Bool, indent: JinjaValue?, separators: JinjaValue?, sortKeys: Bool
    ) throws
        -> String
    {
        var indentText: String?
        switch indent {
        case nil, .none?: indentText = nil
        case .string(let s)?: indentText = s
        case let other?:
            guard let count = other.integer else { throw TemplateError.type("indent must be an int or a str") }
            try TemplateOperators.checkSize(count)
            indentText = String(repeating: " ", count: Swift.max(0, count))
        }
        var itemSeparator = indentText == nil ? ", " : ","
        var keySeparator = ": "
        if let separators, !separators.isNone {
            let pair = try separators.iterate()
            guard pair.count == 2, case .string(let item) = pair[0], case .string(let key) = pair[1] else {
                throw TemplateError.type("separators must be a pair of strings")
            }
            itemSeparator = item
            keySeparator = key
        }
        var encoder = Encoder(
            ensureASCII: ensureASCII, indent: indentText, itemSeparator: itemSeparator,
            keySeparator: keySeparator, sortKeys: sortKeys)
        try encoder.encode(value, level: 0)
        return encoder.out
    }

    static func quoted(_ string: String, ensureASCII: Bool) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || (ensureASCII && scalar.value > 0x7E) {
                    if scalar.value > 0xFFFF {
                        let v = scalar.value - 0x10000
                        out += hex4(0xD800 + (v >> 10)) + hex4(0xDC00 + (v & 0x3FF))
                    } else {
                        out += hex4(scalar.value)
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func hex4(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }

    private struct Encoder {
        let ensureASCII: Bool
        let indent: String?
        let itemSeparator: String
        let keySeparator: String
        let sortKeys: Bool
        var out = ""

        mutating func encode(_ value: JinjaValue, level: Int) throws {
            guard level <= JinjaValue.maximumNesting else {
                throw TemplateError(.limit, "tojson: nesting deeper than \(JinjaValue.maximumNesting) levels")
            }
            try TemplateOperators.checkSize(out.utf8.count)
            switch value {
            case .none: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .int(let i): out += String(i)
            case .double(let d): out += TemplateJSON.number(d)
            case .string(let s): out += TemplateJSON.quoted(s, ensureASCII: ensureASCII)
            case .list(let items), .tuple(let items):
                guard !items.isEmpty else {
                    out += "[]"
                    return
                }
                out += "["
                let separator = open(level)
                for (index, item) in items.enumerated() {
                    if index > 0 { out += separator }
                    try encode(item, level: level + 1)
                }
                close(level)
                out += "]"
            case .dict(let dict):
                guard dict.count > 0 else {
                    out += "{}"
                    return
                }
                var entries = try dict.items.map { (key: try TemplateJSON.key($0.key), value: $0.value) }
                if sortKeys { entries.sort { PythonText.less($0.key, $1.key) } }
                out += "{"
                let separator = open(level)
                for (index, entry) in entries.enumerated() {
                    if index > 0 { out += separator }
                    out += TemplateJSON.quoted(entry.key, ensureASCII: ensureASCII) + keySeparator
                    try encode(entry.value, level: level + 1)
                }
                close(level)
                out += "}"
            default:
                throw TemplateError.type("Object of type \(value.typeName) is not JSON serializable")
            }
        }

        /// Writes the newline and indentation after an opening bracket; returns the item separator.
        private mutating func open(_ level: Int) -> String {
            guard let indent else { return itemSeparator }
            let newline = "\n" + String(repeating: indent, count: level + 1)
            out += newline
            return itemSeparator + newline
        }

        private mutating func close(_ level: Int) {
            guard let indent else { return }
            out += "\n" + String(repeating: indent, count: level)
        }
    }

    static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        return PythonText.floatRepr(value)
    }

    /// json.dumps turns non-string keys into strings; other key types are an error.
    static func key(_ key: JinjaValue) throws -> String {
        switch key {
        case .string(let s): return s
        case .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return number(d)
        default: throw TemplateError.type("keys must be str, int, float, bool or None, not \(key.typeName)")
        }
    }
}
