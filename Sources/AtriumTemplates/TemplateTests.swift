import Foundation

/// jinja2's tests (`value is name(args)`), with Python's notion of each type: `true is number` holds
/// (bool is an int in Python) but `true is integer` does not, and an undefined value is iterable.
enum TemplateTests {
    static let names: Set<String> = [
        "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "escaped", "even", "false", "filter",
        "float", "ge", ">=", "gt", "greaterthan", ">", "in", "integer", "iterable", "le", "<=", "lower", "lt",
        "lessthan",
        "<", "mapping", "ne", "!=", "none", "number", "odd", "sameas", "sequence", "string", "test", "true",
        "undefined",
        "upper",
    ]

    static func apply(
        _ name: String, _ value: JinjaValue, _ args: TemplateCallArguments, _ renderer: TemplateRenderer,
        runtime: Bool = false
    ) throws -> Bool {
        let other = args.value(0, "value") ?? args.value(0, "num") ?? args.value(0, "seq") ?? args.value(0, "other")
        func operand() throws -> JinjaValue {
            guard let other else { throw TemplateError.type("test '\(name)' takes one argument") }
            return other
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNone
        case "boolean":
            if case .bool = value { return true }
            return false
        case "true":
            if case .bool(true) = value { return true }
            return false
        case "false":
            if case .bool(false) = value { return true }
            return false
        case "integer":
            if case .int = value { return true }
            return false
        case "float": return value.isFloat
        case "number": return value.number != nil
        case "string":
            if case .string = value { return true }
            return false
        case "mapping":
            if case .dict = value { return true }
            return false
        case "iterable":
            switch value {
            case .undefined, .string, .list, .tuple, .dict, .generator, .view, .loop: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .undefined, .string, .list, .tuple, .dict: return true
            default: return false
            }
        case "callable":
            switch value {
            // Undefined defines __call__ (to raise), so Python's callable() says yes.
            case .macro, .function, .method, .undefined: return true
            default: return false
            }
        case "escaped": return false
        case "odd", "even":
            let remainder = try TemplateOperators.binary(.modulo, value, .int(2))
            return remainder.equals(.int(name == "odd" ? 1 : 0))
        case "divisibleby":
            return try TemplateOperators.binary(.modulo, value, operand()).equals(.int(0))
        case "lower", "upper":
            return TemplateMethods.isCase(value.str, lower: name == "lower")
        case "eq", "equalto", "==": return try TemplateOperators.compare(.equal, value, operand())
        case "ne", "!=": return try TemplateOperators.compare(.notEqual, value, operand())
        case "gt", "greaterthan", ">": return try TemplateOperators.compare(.greater, value, operand())
        case "ge", ">=": return try TemplateOperators.compare(.greaterEqual, value, operand())
        case "lt", "lessthan", "<": return try TemplateOperators.compare(.less, value, operand())
        case "le", "<=": return try TemplateOperators.compare(.lessEqual, value, operand())
        case "in": return try operand().contains(value)
        case "sameas":
            // Python's identity: only values that CPython shares (None, bools, small ints) can be the same object.
            let rhs = try operand()
            switch (value, rhs) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.int(let a), .int(let b)): return a == b && (-5...256).contains(a)
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "filter": return TemplateFilters.names.contains(value.str)
        case "test": return names.contains(value.str)
        default:
            throw TemplateError(runtime ? .type : .syntax, "No test named \(PythonText.repr(name)).")
        }
    }
}
