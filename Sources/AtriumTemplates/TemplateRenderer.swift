import Foundation

/// Variables visible at one point of a render. `for` iterations, macro calls, `with` blocks and
/// `{% generation %}` each get a child scope, so a `set` inside them does not leak out (jinja2's rule:
/// a loop cannot change an outer variable, which is why templates use `namespace`).
final class TemplateScope {
    var variables: [String: JinjaValue] = [:]
    let parent: TemplateScope?

    init(parent: TemplateScope?) { self.parent = parent }

    func lookup(_ name: String) -> JinjaValue? {
        var scope: TemplateScope? = self
        while let current = scope {
            if let value = current.variables[name] { return value }
            scope = current.parent
        }
        return nil
    }
}

enum TemplateFlow {
    case normal, breakLoop, continueLoop
}

/// Runs a parsed template once. Bounded: output length, loop iterations and macro recursion all have
/// ceilings that raise a `TemplateError` of kind `.limit` instead of exhausting memory or the stack.
final class TemplateRenderer {
    static let maximumOutput = 1_000_000
    static let maximumLoopLength = 100_000
    static let maximumIterations = 1_000_000
    static let maximumCallDepth = 40
    static let maximumDepth = 300

    var output = ""
    var outputCount = 0
    /// Everything emitted, captured blocks and macro bodies included.
    var produced = 0
    var iterations = 0
    var callDepth = 0
    /// Nesting of statements, expressions and macro calls being evaluated.
    var depth = 0
    /// Where the stack was when rendering began: frame sizes differ between debug and release builds, so
    /// the guard measures the stack itself and stops well inside a 512 KiB thread stack.
    var stackBase: UInt = 0
    static let stackBudget: UInt = 256 * 1024
    let now: Date
    let timeZone: TimeZone

    init(now: Date, timeZone: TimeZone) {
        self.now = now
        self.timeZone = timeZone
    }

    func render(_ nodes: [TemplateNode], context: [String: TemplateValue]) throws -> String {
        stackBase = Self.stackPosition()
        let globals = TemplateScope(parent: nil)
        for (name, value) in context { globals.variables[name] = try JinjaValue(value) }
        let root = TemplateScope(parent: globals)
        _ = try execute(nodes, root)
        return output
    }

    func lookup(_ name: String, _ scope: TemplateScope) -> JinjaValue {
        if let value = scope.lookup(name) { return value }
        if let function = JinjaGlobal(rawValue: name) { return .function(function) }
        return .undefined(name)
    }

    func descend() throws {
        depth += 1
        let position = Self.stackPosition()
        let used = position > stackBase ? position - stackBase : stackBase - position
        guard depth <= Self.maximumDepth, used < Self.stackBudget else {
            throw TemplateError(.limit, "the template nests statements, expressions and macro calls too deeply")
        }
    }

    /// The address of a local: how deep the stack is right now.
    @inline(never)
    static func stackPosition() -> UInt {
        var marker: UInt8 = 0
        return withUnsafeMutablePointer(to: &marker) { UInt(bitPattern: $0) }
    }

    func emit(_ text: String) throws {
        let count = text.unicodeScalars.count
        outputCount += count
        produced += count
        guard outputCount <= Self.maximumOutput, produced <= 4 * Self.maximumOutput else {
            throw TemplateError(.limit, "the rendered output would exceed \(Self.maximumOutput) characters")
        }
        output += text
    }

    /// Renders `body` into a string of its own (set blocks, filter blocks, macro calls).
    func capture(_ body: () throws -> Void) throws -> String {
        let savedOutput = output
        let savedCount = outputCount
        output = ""
        outputCount = 0
        defer {
            output = savedOutput
            outputCount = savedCount
        }
        try body()
        return output
    }

    /// Gives an error raised by code that knows no line the line of the statement that ran it.
    func at<T>(_ line: Int, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch var error as TemplateError where error.line == nil {
            error.line = line
            throw error
        }
    }

    // MARK: Statements

    func execute(_ nodes: [TemplateNode], _ scope: TemplateScope) throws -> TemplateFlow {
        try descend()
        defer { depth -= 1 }
        for node in nodes {
            let flow = try execute(node, scope)
            if case .normal = flow { continue }
            return flow
        }
        return .normal
    }

    /// A dispatcher only, like `evaluateKind`: the per-node work is in separate small functions.
    private func execute(_ node: TemplateNode, _ scope: TemplateScope) throws -> TemplateFlow {
        switch node {
        case .text(let text):
            try emit(text)
        case .output(let expr):
            try output(expr, scope)
        case .conditional(let branches, let otherwise):
            return try execute(try branch(branches, otherwise, scope), scope)
        case .forLoop(let loop):
            return try at(loop.line) { try runFor(loop, scope) }
        case .assign(let target, let expr, let line):
            try assign(target, expr, line: line, scope)
        case .assignBlock(let target, let filters, let body, let line):
            let value = try filtered(try capture(body, scope), filters, scope)
            try at(line) { try assign(target, value, scope) }
        case .macro(let definition):
            scope.variables[definition.name] = .macro(JinjaMacro(definition: definition, scope: scope))
        case .filterBlock(let filters, let body):
            try emit(try filtered(try capture(body, scope), filters, scope).str)
        case .with(let assignments, let body):
            return try with(assignments, body, scope)
        case .loopControl(let isBreak, _):
            return isBreak ? .breakLoop : .continueLoop
        case .scoped(let body):
            return try execute(body, TemplateScope(parent: scope))
        }
        return .normal
    }

    @inline(never)
    private func output(_ expr: TemplateExpr, _ scope: TemplateScope) throws {
        let value = try evaluate(expr, scope)
        try at(expr.line) { try emit(value.str) }
    }

    @inline(never)
    private func branch(
        _ branches: [(test: TemplateExpr, body: [TemplateNode])], _ otherwise: [TemplateNode], _ scope: TemplateScope
    ) throws -> [TemplateNode] {
        for branch in branches {
            if try evaluate(branch.test, scope).isTruthy { return branch.body }
        }
        return otherwise
    }

    @inline(never)
    private func assign(_ target: TemplateTarget, _ expr: TemplateExpr, line: Int, _ scope: TemplateScope) throws {
        let value = try evaluate(expr, scope)
        try at(line) { try assign(target, value, scope) }
    }

    @inline(never)
    private func capture(_ body: [TemplateNode], _ scope: TemplateScope) throws -> JinjaValue {
        .string(try capture { _ = try execute(body, scope) })
    }

    @inline(never)
    private func filtered(_ value: JinjaValue, _ filters: [TemplateFilterCall], _ scope: TemplateScope) throws
        -> JinjaValue
    {
        var result = value
        for filter in filters { result = try applyFilter(filter, to: result, scope) }
        return result
    }

    @inline(never)
    private func with(_ assignments: [(TemplateTarget, TemplateExpr)], _ body: [TemplateNode], _ scope: TemplateScope)
        throws -> TemplateFlow
    {
        let inner = TemplateScope(parent: scope)
        for (target, expr) in assignments {
            let value = try evaluate(expr, scope)
            try at(expr.line) { try assign(target, value, inner) }
        }
        return try execute(body, inner)
    }

    func applyFilter(_ filter: TemplateFilterCall, to value: JinjaValue, _ scope: TemplateScope) throws -> JinjaValue {
        let arguments = try evaluateArguments(filter.arguments, scope)
        return try at(filter.line) { try TemplateFilters.apply(filter.name, value, arguments, self) }
    }

    func assign(_ target: TemplateTarget, _ value: JinjaValue, _ scope: TemplateScope) throws {
        switch target {
        case .name(let name):
            scope.variables[name] = value
        case .tuple(let targets):
            let items = try value.iterate()
            guard items.count == targets.count else {
                if items.count < targets.count {
                    throw TemplateError.type(
                        "not enough values to unpack (expected \(targets.count), got \(items.count))")
                }
                throw TemplateError.type("too many values to unpack (expected \(targets.count))")
            }
            for (target, item) in zip(targets, items) { try assign(target, item, scope) }
        case .namespaceAttribute(let name, let attribute):
            guard case .namespace(let namespace) = lookup(name, scope) else {
                throw TemplateError.type("cannot assign attribute on non-namespace object")
            }
            // A namespace is the only value that outlives a loop iteration, so only here can a loop wrap a
            // value in itself without bound; deeper values would make releasing them recurse too far.
            guard value.nesting() <= JinjaValue.maximumNesting else {
                throw TemplateError(
                    .limit, "a namespace value would nest deeper than \(JinjaValue.maximumNesting) levels")
            }
            namespace.attributes[string: attribute] = value
        }
    }

    func runFor(_ loop: TemplateForLoop, _ scope: TemplateScope) throws -> TemplateFlow {
        let items = try evaluate(loop.iterable, scope).iterate()
        guard items.count <= Self.maximumLoopLength else {
            throw TemplateError(.limit, "a loop over more than \(Self.maximumLoopLength) items")
        }
        var accepts: ((JinjaValue) throws -> Bool)?
        if let condition = loop.condition {
            accepts = { item in
                let filterScope = TemplateScope(parent: scope)
                try self.assign(loop.target, item, filterScope)
                return try self.evaluate(condition, filterScope).isTruthy
            }
        }
        let iterator = JinjaLoopIterator(items, accepts: accepts)
        let context = JinjaLoop(iterator)
        var previous: JinjaValue?
        var ran = false
        while let item = try iterator.next() {
            iterations += 1
            guard iterations <= Self.maximumIterations else {
                throw TemplateError(.limit, "the template ran more than \(Self.maximumIterations) loop iterations")
            }
            ran = true
            context.index0 += 1
            context.previous = previous
            let inner = TemplateScope(parent: scope)
            try assign(loop.target, item, inner)
            inner.variables["loop"] = .loop(context)
            let flow = try execute(loop.body, inner)
            previous = item
            if case .breakLoop = flow { break }
        }
        return ran ? .normal : try execute(loop.otherwise, scope)
    }

    func callMacro(_ macro: JinjaMacro, _ arguments: TemplateCallArguments) throws -> JinjaValue {
        let definition = macro.definition
        try descend()
        callDepth += 1
        defer {
            callDepth -= 1
            depth -= 1
        }
        guard callDepth <= Self.maximumCallDepth else {
            throw TemplateError(.limit, "macro calls nest deeper than \(Self.maximumCallDepth) levels")
        }
        let scope = TemplateScope(parent: macro.scope)
        let name = PythonText.repr(definition.name)
        var extra: [JinjaValue] = []
        for (index, value) in arguments.positional.enumerated() {
            if index < definition.parameters.count {
                scope.variables[definition.parameters[index]] = value
            } else {
                extra.append(value)
            }
        }
        if !extra.isEmpty, !definition.takesVarargs {
            throw TemplateError.type("macro \(name) takes not more than \(definition.parameters.count) argument(s)")
        }
        var extraKeywords = PyDict()
        for (keyword, value) in arguments.keywords {
            if let index = definition.parameters.firstIndex(of: keyword) {
                if index < arguments.positional.count {
                    throw TemplateError.type(
                        "macro \(name) got multiple values for argument \(PythonText.repr(keyword))")
                }
                scope.variables[keyword] = value
            } else if definition.takesKwargs {
                extraKeywords[string: keyword] = value
            } else {
                throw TemplateError.type("macro \(name) takes no keyword argument \(PythonText.repr(keyword))")
            }
        }
        let firstDefault = definition.parameters.count - definition.defaults.count
        for (index, parameter) in definition.parameters.enumerated() where scope.variables[parameter] == nil {
            if index >= firstDefault {
                scope.variables[parameter] = try evaluate(definition.defaults[index - firstDefault], scope)
            } else {
                scope.variables[parameter] = .undefined(
                    JinjaUndefined(origin: .hint("parameter \(PythonText.repr(parameter)) was not provided")))
            }
        }
        if definition.takesVarargs { scope.variables["varargs"] = .tuple(extra) }
        if definition.takesKwargs { scope.variables["kwargs"] = .dict(extraKeywords) }
        return .string(try capture { _ = try execute(definition.body, scope) })
    }
}
