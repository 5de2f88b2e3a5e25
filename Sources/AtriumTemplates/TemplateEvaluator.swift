import Foundation

/// Evaluated call arguments, positional then keyword, as Python passes them.
struct TemplateCallArguments {
    var positional: [JinjaValue] = []
    var keywords: [(name: String, value: JinjaValue)] = []

    /// The argument at `index`, or the keyword `name`.
    func value(_ index: Int, _ name: String) -> JinjaValue? {
        if index < positional.count { return positional[index] }
        return keywords.last { $0.name == name }?.value
    }

    func keyword(_ name: String) -> JinjaValue? { keywords.last { $0.name == name }?.value }

    /// Refuses what Python would: more positional arguments than `names`, or unknown keywords.
    func check(_ function: String, _ names: [String]) throws {
        guard positional.count <= names.count else {
            throw TemplateError.type(
                "\(function)() takes at most \(names.count) argument(s) (\(positional.count) given)")
        }
        for keyword in keywords where !names.contains(keyword.name) {
            throw TemplateError.type(
                "\(function)() got an unexpected keyword argument \(PythonText.repr(keyword.name))")
        }
    }
}

extension TemplateRenderer {
    func evaluate(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        try descend()
        defer { depth -= 1 }
        do {
            return try evaluateKind(expr, scope)
        } catch var error as TemplateError where error.line == nil {
            error.line = expr.line
            throw error
        }
    }

    /// A dispatcher only: the cases bind nothing and each one's work lives in its own function, so the
    /// frame that recursion stacks up stays small (binding every case's payload here would reserve room
    /// for all of them).
    private func evaluateKind(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        switch expr.kind {
        case .constant, .name: return try evaluateLeaf(expr, scope)
        case .list, .tuple: return try evaluateSequence(expr, scope)
        case .dict: return try evaluateDict(expr, scope)
        case .attribute: return try evaluateAttribute(expr, scope)
        case .item: return try evaluateItem(expr, scope)
        case .call: return try evaluateCall(expr, scope)
        case .filter: return try evaluateFilter(expr, scope)
        case .test: return try evaluateTest(expr, scope)
        case .not, .negate, .plus: return try evaluateUnary(expr, scope)
        case .binary: return try evaluateBinary(expr, scope)
        case .and, .or: return try evaluateLogical(expr, scope)
        case .concat: return try evaluateConcat(expr, scope)
        case .compare: return try evaluateCompare(expr, scope)
        case .conditional: return try evaluateConditional(expr, scope)
        case .slice: throw TemplateError.syntax("a slice is only valid inside []", line: expr.line)
        }
    }

    private func mismatch(_ expr: TemplateExpr) -> TemplateError {
        TemplateError.syntax("internal error: unexpected expression", line: expr.line)
    }

    @inline(never)
    private func evaluateLeaf(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        switch expr.kind {
        case .constant(let constant): return JinjaValue(constant)
        case .name(let name): return lookup(name, scope)
        default: throw mismatch(expr)
        }
    }

    @inline(never)
    private func evaluateSequence(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        switch expr.kind {
        case .list(let items): return .list(try items.map { try evaluate($0, scope) })
        case .tuple(let items): return .tuple(try items.map { try evaluate($0, scope) })
        default: throw mismatch(expr)
        }
    }

    @inline(never)
    private func evaluateDict(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        guard case .dict(let entries) = expr.kind else { throw mismatch(expr) }
        var dict = PyDict()
        for entry in entries {
            let key = try evaluate(entry.key, scope)
            try dict.set(try evaluate(entry.value, scope), for: key)
        }
        return .dict(dict)
    }

    @inline(never)
    private func evaluateAttribute(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        guard case .attribute(let base, let name) = expr.kind else { throw mismatch(expr) }
        return try getAttribute(try evaluate(base, scope), name)
    }

    @inline(never)
    private func evaluateItem(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        guard case .item(let base, let index) = expr.kind else { throw mismatch(expr) }
        let container = try evaluate(base, scope)
        if case .slice(let start, let stop, let step) = index.kind {
            return try slice(
                container, start.map { try evaluate($0, scope) }, stop.map { try evaluate($0, scope) },
                step.map { try evaluate($0, scope) })
        }
        return try getItem(container, try evaluate(index, scope))
    }

    @inline(never)
    private func evaluateCall(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        guard case .call(let callee, let arguments) = expr.kind else { throw mismatch(expr) }
        let function = try evaluate(callee, scope)
        return try call(function, try evaluateArguments(arguments, scope))
    }

    @inline(never)
    private func evaluateFilter(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        guard case .filter(let base, let name, let arguments) = expr.kind else { throw mismatch(expr) }
        let value = try evaluate(base, scope)
        return try TemplateFilters.apply(name, value, try evaluateArguments(arguments, scope), self)
    }

    @inline(never)
    private func evaluateTest(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        guard case .test(let base, let name, let arguments) = expr.kind else { throw mismatch(expr) }
        let value = try evaluate(base, scope)
        return .bool(try TemplateTests.apply(name, value, try evaluateArguments(arguments, scope), self))
    }

    @inline(never)
    private func evaluateUnary(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        switch expr.kind {
        case .not(let operand): return .bool(!(try evaluate(operand, scope).isTruthy))
        case .negate(let operand): return try TemplateOperators.negate(try evaluate(operand, scope))
        case .plus(let operand): return try TemplateOperators.plus(try evaluate(operand, scope))
        default: throw mismatch(expr)
        }
    }

    @inline(never)
    private func evaluateBinary(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        guard case .binary(let op, let lhs, let rhs) = expr.kind else { throw mismatch(expr) }
        let left = try evaluate(lhs, scope)
        return try TemplateOperators.binary(op, left, try evaluate(rhs, scope))
    }

    /// Python's `and`/`or` return an operand, not a bool.
    @inline(never)
    private func evaluateLogical(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        switch expr.kind {
        case .and(let lhs, let rhs):
            let left = try evaluate(lhs, scope)
            return left.isTruthy ? try evaluate(rhs, scope) : left
        case .or(let lhs, let rhs):
            let left = try evaluate(lhs, scope)
            return left.isTruthy ? left : try evaluate(rhs, scope)
        default: throw mismatch(expr)
        }
    }

    @inline(never)
    private func evaluateConcat(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        guard case .concat(let items) = expr.kind else { throw mismatch(expr) }
        var text = ""
        for item in items {
            text += try evaluate(item, scope).str
            try TemplateOperators.checkSize(text.utf8.count)
        }
        return .string(text)
    }

    @inline(never)
    private func evaluateCompare(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        guard case .compare(let first, let operations) = expr.kind else { throw mismatch(expr) }
        var left = try evaluate(first, scope)
        for (op, operand) in operations {
            let right = try evaluate(operand, scope)
            guard try TemplateOperators.compare(op, left, right) else { return .bool(false) }
            left = right
        }
        return .bool(true)
    }

    @inline(never)
    private func evaluateConditional(_ expr: TemplateExpr, _ scope: TemplateScope) throws -> JinjaValue {
        guard case .conditional(let test, let then, let otherwise) = expr.kind else { throw mismatch(expr) }
        if try evaluate(test, scope).isTruthy { return try evaluate(then, scope) }
        if let otherwise { return try evaluate(otherwise, scope) }
        return .undefined(
            JinjaUndefined(
                origin: .hint(
                    "the inline if-expression on line \(expr.line) evaluated to false and no else section was defined.")
            ))
    }

    func evaluateArguments(_ arguments: TemplateArguments, _ scope: TemplateScope) throws -> TemplateCallArguments {
        var result = TemplateCallArguments()
        for expr in arguments.positional { result.positional.append(try evaluate(expr, scope)) }
        if let splat = arguments.splat { result.positional += try evaluate(splat, scope).iterate() }
        for (name, expr) in arguments.keywords { result.keywords.append((name, try evaluate(expr, scope))) }
        if let splat = arguments.keywordSplat {
            guard case .dict(let dict) = try evaluate(splat, scope) else {
                throw TemplateError.type("argument after ** must be a mapping")
            }
            for (key, value) in dict.items {
                guard case .string(let name) = key else { throw TemplateError.type("keywords must be strings") }
                result.keywords.append((name, value))
            }
        }
        return result
    }

    // MARK: Access, as jinja2's sandboxed getattr/getitem

    /// `value.name`: a Python attribute (a method) first, then the item `value['name']`.
    func getAttribute(_ value: JinjaValue, _ name: String) throws -> JinjaValue {
        // Every Python object has dunder attributes, and the sandbox hides them all (undefined included).
        if name.hasPrefix("__"), name.hasSuffix("__"), name.count > 4 {
            return JinjaUndefined.unsafe(name, of: value)
        }
        switch value {
        case .undefined(let undefined):
            throw undefined.error
        case .dict(let dict):
            if let method = TemplateMethods.attribute(of: value, name) { return method }
            return dict[string: name] ?? .undefined(JinjaUndefined(owner: value, key: .string(name)))
        case .namespace(let namespace):
            return namespace.attributes[string: name] ?? .undefined(JinjaUndefined(owner: value, key: .string(name)))
        case .loop(let loop):
            return try loop.attribute(name) ?? .undefined(JinjaUndefined(owner: value, key: .string(name)))
        default:
            return TemplateMethods.attribute(of: value, name)
                ?? .undefined(JinjaUndefined(owner: value, key: .string(name)))
        }
    }

    /// `value[key]`: the item first, then (for string keys) the attribute.
    func getItem(_ value: JinjaValue, _ key: JinjaValue) throws -> JinjaValue {
        switch value {
        case .undefined(let undefined):
            throw undefined.error
        case .dict(let dict):
            if let found = dict.value(for: key) { return found }
        case .list(let items), .tuple(let items):
            if let index = key.integer {
                let position = index < 0 ? index + items.count : index
                if items.indices.contains(position) { return items[position] }
            }
        case .string(let string):
            if let index = key.integer {
                let scalars = PythonText.scalars(string)
                let position = index < 0 ? index + scalars.count : index
                if scalars.indices.contains(position) { return .string(String(scalars[position])) }
            }
        default:
            break
        }
        if case .string(let name) = key {
            switch value {
            case .namespace, .loop: return try getAttribute(value, name)
            default: if let method = TemplateMethods.attribute(of: value, name) { return method }
            }
        }
        return .undefined(JinjaUndefined(owner: value, key: key))
    }

    /// `value[start:stop:step]` with Python's index clamping.
    func slice(_ value: JinjaValue, _ start: JinjaValue?, _ stop: JinjaValue?, _ step: JinjaValue?) throws -> JinjaValue
    {
        if case .undefined(let undefined) = value { throw undefined.error }
        func bound(_ value: JinjaValue?) throws -> Int?? {
            guard let value else { return .some(nil) }
            if case .none = value { return .some(nil) }
            guard let index = value.integer else { return nil }
            return .some(index)
        }
        // jinja2 compiles a slice to a plain Python subscript, so its errors are Python's, not undefined.
        switch value {
        case .list, .tuple, .string: break
        case .dict: throw TemplateError.type("unhashable type: 'slice'")
        default: throw TemplateError.type("'\(value.typeName)' object is not subscriptable")
        }
        guard let first = try bound(start), let last = try bound(stop), let stride = try bound(step) else {
            throw TemplateError.type("slice indices must be integers or None or have an __index__ method")
        }
        let step = stride ?? 1
        guard step != 0 else { throw TemplateError.type("slice step cannot be zero") }
        func pick<T>(_ items: [T]) -> [T] {
            let count = items.count
            func clamp(_ index: Int?, _ fallback: Int) -> Int {
                guard var index else { return fallback }
                if index < 0 { index += count }
                return step > 0 ? Swift.min(Swift.max(index, 0), count) : Swift.min(Swift.max(index, -1), count - 1)
            }
            let from = clamp(first, step > 0 ? 0 : count - 1)
            let to = clamp(last, step > 0 ? count : -1)
            var out: [T] = []
            var index = from
            while step > 0 ? index < to : index > to {
                out.append(items[index])
                index += step
            }
            return out
        }
        switch value {
        case .list(let items): return .list(pick(items))
        case .tuple(let items): return .tuple(pick(items))
        case .string(let string): return .string(PythonText.string(pick(PythonText.scalars(string))))
        default: return .undefined(JinjaUndefined(owner: value, key: .none))
        }
    }

    // MARK: Calls

    func call(_ function: JinjaValue, _ arguments: TemplateCallArguments) throws -> JinjaValue {
        switch function {
        case .undefined(let undefined): throw undefined.error
        case .macro(let macro): return try callMacro(macro, arguments)
        case .function(let global): return try callGlobal(global, arguments)
        case .method(let receiver, let name): return try TemplateMethods.call(receiver, name, arguments, self)
        default: throw TemplateError.type("'\(function.typeName)' object is not callable")
        }
    }

    func callGlobal(_ function: JinjaGlobal, _ arguments: TemplateCallArguments) throws -> JinjaValue {
        switch function {
        case .raiseException:
            throw TemplateError(.raised, arguments.value(0, "message")?.str ?? "")
        case .strftimeNow:
            guard case .string(let format) = arguments.value(0, "format") else {
                throw TemplateError.type("strftime_now() argument must be str")
            }
            return .string(TemplateStrftime.format(now, format, timeZone))
        case .namespace, .dict:
            var dict = PyDict()
            if let first = arguments.positional.first { dict = try Self.dictionary(from: first) }
            guard arguments.positional.count <= 1 else {
                throw TemplateError.type("\(function.rawValue) expected at most 1 argument")
            }
            for (name, value) in arguments.keywords { dict[string: name] = value }
            return function == .dict ? .dict(dict) : .namespace(JinjaNamespace(dict))
        case .range:
            let numbers = try arguments.positional.map { value -> Int in
                guard let number = value.integer else {
                    throw TemplateError.type("'\(value.typeName)' object cannot be interpreted as an integer")
                }
                return number
            }
            guard (1...3).contains(numbers.count) else { throw TemplateError.type("range expected 1 to 3 arguments") }
            let start = numbers.count == 1 ? 0 : numbers[0]
            let stop = numbers.count == 1 ? numbers[0] : numbers[1]
            let step = numbers.count == 3 ? numbers[2] : 1
            guard step != 0 else { throw TemplateError.type("range() arg 3 must not be zero") }
            let (distance, overflow) =
                step > 0 ? stop.subtractingReportingOverflow(start) : start.subtractingReportingOverflow(stop)
            let span = overflow ? Int.max : distance <= 0 ? 0 : Int((UInt(distance) - 1) / step.magnitude) + 1
            guard span <= Self.maximumLoopLength else {
                throw TemplateError(
                    .limit,
                    "Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(Self.maximumLoopLength)).")
            }
            return .list((0..<span).map { .int(start + $0 * step) })
        }
    }

    /// `dict(value)`: a mapping, or an iterable of key/value pairs.
    static func dictionary(from value: JinjaValue) throws -> PyDict {
        switch value {
        case .dict(let dict): return dict
        case .namespace(let namespace): return namespace.attributes
        default:
            var dict = PyDict()
            for pair in try value.iterate() {
                let items = try pair.iterate()
                guard items.count == 2 else {
                    throw TemplateError.type(
                        "dictionary update sequence element has length \(items.count); 2 is required")
                }
                try dict.set(items[1], for: items[0])
            }
            return dict
        }
    }
}
