import Foundation

enum TemplateTokenKind: Sendable, Equatable {
    case data, variableBegin, variableEnd, blockBegin, blockEnd
    case name, string, integer, float, `operator`
    case eof
}

struct TemplateToken: Sendable {
    var kind: TemplateTokenKind
    /// Data text, a name, an operator symbol or a decoded string literal.
    var text: String = ""
    var integer: Int = 0
    var float: Double = 0
    var line: Int

    func isName(_ name: String) -> Bool { kind == .name && text == name }
    func isOperator(_ symbol: String) -> Bool { kind == .operator && text == symbol }

    /// jinja2's `describe_token`, so syntax errors read as jinja2's do.
    var description: String {
        switch kind {
        case .name, .operator: return text
        default: return kind.description
        }
    }
}

extension TemplateTokenKind {
    var description: String {
        switch self {
        case .data: return "template data / text"
        case .variableBegin: return "begin of print statement"
        case .variableEnd: return "end of print statement"
        case .blockBegin: return "begin of statement block"
        case .blockEnd: return "end of statement block"
        case .name: return "name"
        case .string: return "string"
        case .integer: return "integer"
        case .float: return "float"
        case .operator: return "operator"
        case .eof: return "end of template"
        }
    }
}
