import Foundation

/// Python's arithmetic on template values, with Python's errors, floor division and modulo.
/// Integers are 64-bit: where Python would grow a big integer, this refuses with an overflow error.
enum TemplateOperators {
    /// No string or list an operator builds may exceed this many elements.
    static let maximumSize = 1_000_000

    static func binary(_ op: TemplateBinaryOperator, _ lhs: JinjaValue, _ rhs: JinjaValue) throws -> JinjaValue {
        // str % undefined formats (Undefined looks like a mapping to CPython) instead of raising.
        if op == .modulo, case .string(let format) = lhs { return .string(try TemplateFormatting.percent(format, rhs)) }
        if case .undefined(let u) = lhs { throw u.error }
        if case .undefined(let u) = rhs { throw u.error }
        switch op {
        case .add: return try add(lhs, rhs)
        case .subtract:
            if let a = lhs.integer, let b = rhs.integer { return try checked(a.subtractingReportingOverflow(b)) }
            if let a = lhs.number, let b = rhs.number { return .double(a - b) }
        case .multiply: return try multiply(lhs, rhs)
        case .divide:
            if let a = lhs.number, let b = rhs.number {
                guard b != 0 else {
                    throw TemplateError(
                        .type, lhs.isFloat || rhs.isFloat ? "float division by zero" : "division by zero")
                }
                return .double(a / b)
            }
        case .floorDivide:
            if let a = lhs.integer, let b = rhs.integer {
                guard b != 0 else { throw TemplateError(.type, "integer division or modulo by zero") }
                let (quotient, overflow) = a.dividedReportingOverflow(by: b)
                guard !overflow else { throw overflowError() }
                return .int(a % b != 0 && (a < 0) != (b < 0) ? quotient - 1 : quotient)
            }
            if let a = lhs.number, let b = rhs.number {
                guard b != 0 else { throw TemplateError(.type, "float floor division by zero") }
                return .double(floatFloorDivide(a, b))
            }
        case .modulo:
            if let a = lhs.integer, let b = rhs.integer {
                guard b != 0 else { throw TemplateError(.type, "integer modulo by zero") }
                let (remainder, overflow) = a.remainderReportingOverflow(dividingBy: b)
                guard !overflow else { return .int(0) }
                return .int(remainder != 0 && (remainder < 0) != (b < 0) ? remainder + b : remainder)
            }
            if let a = lhs.number, let b = rhs.number {
                guard b != 0 else { throw TemplateError(.type, "float modulo") }
                return .double(floatModulo(a, b))
            }
        case .power: return try power(lhs, rhs)
        }
        throw unsupported(op.rawValue, lhs, rhs)
    }

    static func unsupported(_ symbol: String, _ lhs: JinjaValue, _ rhs: JinjaValue) -> TemplateError {
        TemplateError.type("unsupported operand type(s) for \(symbol): '\(lhs.typeName)' and '\(rhs.typeName)'")
    }

    static func overflowError() -> TemplateError {
        TemplateError(.limit, "integer overflow: the result does not fit in 64 bits")
    }

    static func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
        guard !result.overflow else { throw overflowError() }
        return .int(result.partialValue)
    }

    static func checkSize(_ count: Int) throws {
        guard count <= maximumSize else {
            throw TemplateError(.limit, "a string or list of more than \(maximumSize) elements would be built")
        }
    }

    private static func add(_ lhs: JinjaValue, _ rhs: JinjaValue) throws -> JinjaValue {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)):
            try checkSize(a.utf8.count + b.utf8.count)
            return .string(a + b)
        case (.list(let a), .list(let b)):
            try checkSize(a.count + b.count)
            return .list(a + b)
        case (.tuple(let a), .tuple(let b)):
            try checkSize(a.count + b.count)
            return .tuple(a + b)
        case (.string, _), (.list, _), (.tuple, _):
            throw TemplateError.type(
                "can only concatenate \(lhs.typeName) (not \"\(rhs.typeName)\") to \(lhs.typeName)")
        default:
            if let a = lhs.integer, let b = rhs.integer { return try checked(a.addingReportingOverflow(b)) }
            if let a = lhs.number, let b = rhs.number { return .double(a + b) }
            throw unsupported("+", lhs, rhs)
        }
    }

    private static func repeated(_ items: [JinjaValue], _ times: Int) throws -> [JinjaValue] {
        guard times > 0, !items.isEmpty else { return [] }
        try checkSize(items.count.multipliedReportingOverflow(by: times).overflow ? Int.max : items.count * times)
        return Array([[JinjaValue]](repeating: items, count: times).joined())
    }

    private static func multiply(_ lhs: JinjaValue, _ rhs: JinjaValue) throws -> JinjaValue {
        func sequence(_ value: JinjaValue, _ times: JinjaValue) throws -> JinjaValue? {
            switch value {
            case .string, .list, .tuple: break
            default: return nil
            }
            guard let count = times.integer else {
                throw TemplateError.type("can't multiply sequence by non-int of type '\(times.typeName)'")
            }
            switch value {
            case .string(let s):
                guard count > 0 else { return .string("") }
                try checkSize(
                    s.utf8.count.multipliedReportingOverflow(by: count).overflow ? Int.max : s.utf8.count * count)
                return .string(String(repeating: s, count: count))
            case .list(let items): return .list(try repeated(items, count))
            case .tuple(let items): return .tuple(try repeated(items, count))
            default: return nil
            }
        }
        if let a = lhs.integer, let b = rhs.integer { return try checked(a.multipliedReportingOverflow(by: b)) }
        if let a = lhs.number, let b = rhs.number { return .double(a * b) }
        if rhs.integer != nil, let result = try sequence(lhs, rhs) { return result }
        if lhs.integer != nil, let result = try sequence(rhs, lhs) { return result }
        if let result = try sequence(lhs, rhs) { return result }
        throw unsupported("*", lhs, rhs)
    }

    private static func power(_ lhs: JinjaValue, _ rhs: JinjaValue) throws -> JinjaValue {
        if let base = lhs.integer, let exponent = rhs.integer {
            if exponent < 0 {
                guard base != 0 else { throw TemplateError(.type, "0.0 cannot be raised to a negative power") }
                return .double(pow(Double(base), Double(exponent)))
            }
            var result = 1
            var factor = base
            var remaining = exponent
            while remaining > 0 {
                if remaining & 1 == 1 {
                    let (product, overflow) = result.multipliedReportingOverflow(by: factor)
                    guard !overflow else { throw overflowError() }
                    result = product
                }
                remaining >>= 1
                if remaining > 0 {
                    let (square, overflow) = factor.multipliedReportingOverflow(by: factor)
                    guard !overflow else { throw overflowError() }
                    factor = square
                }
            }
            return .int(result)
        }
        if let base = lhs.number, let exponent = rhs.number {
            if base == 0, exponent < 0 { throw TemplateError(.type, "0.0 cannot be raised to a negative power") }
            if base < 0, exponent != exponent.rounded() {
                throw TemplateError(.type, "complex results are not supported")
            }
            let result = pow(base, exponent)
            // Python's float pow raises where C's overflows to infinity.
            if result.isInfinite, base.isFinite, exponent.isFinite {
                throw TemplateError(.limit, "(34, 'Numerical result out of range')")
            }
            return .double(result)
        }
        throw unsupported("** or pow()", lhs, rhs)
    }

    /// CPython's float floor division.
    static func floatFloorDivide(_ a: Double, _ b: Double) -> Double {
        var mod = fmod(a, b)
        var div = (a - mod) / b
        if mod != 0 {
            if (b < 0) != (mod < 0) {
                mod += b
                div -= 1
            }
        }
        guard div != 0 else { return (a / b).sign == .minus ? -0.0 : 0.0 }
        var floored = div.rounded(.down)
        if div - floored > 0.5 { floored += 1 }
        return floored
    }

    /// CPython's float modulo: the result takes the divisor's sign.
    static func floatModulo(_ a: Double, _ b: Double) -> Double {
        var mod = fmod(a, b)
        if mod != 0 {
            if (b < 0) != (mod < 0) { mod += b }
        } else {
            mod = b.sign == .minus ? -0.0 : 0.0
        }
        return mod
    }

    static func negate(_ value: JinjaValue) throws -> JinjaValue {
        switch value {
        case .undefined(let u): throw u.error
        case .double(let d): return .double(-d)
        default:
            if let i = value.integer { return try checked(Int(0).subtractingReportingOverflow(i)) }
            throw TemplateError.type("bad operand type for unary -: '\(value.typeName)'")
        }
    }

    static func plus(_ value: JinjaValue) throws -> JinjaValue {
        switch value {
        case .undefined(let u): throw u.error
        case .double: return value
        default:
            if let i = value.integer { return .int(i) }
            throw TemplateError.type("bad operand type for unary +: '\(value.typeName)'")
        }
    }

    static func compare(_ op: TemplateCompareOperator, _ lhs: JinjaValue, _ rhs: JinjaValue) throws -> Bool {
        switch op {
        case .equal: return lhs.equals(rhs)
        case .notEqual: return !lhs.equals(rhs)
        case .less: return try lhs.compared(to: rhs, symbol: "<") == -1
        case .lessEqual: return try [-1, 0].contains(lhs.compared(to: rhs, symbol: "<="))
        case .greater: return try lhs.compared(to: rhs, symbol: ">") == 1
        case .greaterEqual: return try [1, 0].contains(lhs.compared(to: rhs, symbol: ">="))
        case .contains: return try rhs.contains(lhs)
        case .notContains: return try !rhs.contains(lhs)
        }
    }
}

extension JinjaValue {
    var isFloat: Bool {
        if case .double = self { return true }
        return false
    }
}
