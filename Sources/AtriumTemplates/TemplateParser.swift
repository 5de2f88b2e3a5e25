import Foundation

/// jinja2's parser, statement by statement: a token stream in, the template's node tree out.
struct TemplateParser {
    static let maximumDepth = 100

    var tokens: [TemplateToken]
    var index = 0
    /// The end tags being looked for, innermost last (for jinja2's "Jinja was looking for" messages).
    var endTokenStack: [[String]] = []
    var tagStack: [String] = []
    var loopDepth = 0
    var depth = 0
    /// Names read inside each macro being parsed, to know whether it takes `varargs`/`kwargs`.
    var macroNames: [Set<String>] = []
    let stackBase = TemplateRenderer.stackPosition()

    static func parse(_ source: String) throws -> [TemplateNode] {
        var parser = TemplateParser(tokens: try TemplateLexer.tokenize(source))
        let nodes = try parser.subparse(nil)
        return nodes
    }

    init(tokens: [TemplateToken]) { self.tokens = tokens }

    // MARK: Token stream

    var current: TemplateToken { tokens[index] }
    var next: TemplateToken { tokens[Swift.min(index + 1, tokens.count - 1)] }

    @discardableResult
    mutating func advance() -> TemplateToken {
        let token = tokens[index]
        if index < tokens.count - 1 { index += 1 }
        return token
    }

    mutating func skipName(_ name: String) -> Bool {
        guard current.isName(name) else { return false }
        advance()
        return true
    }

    mutating func skipOperator(_ symbol: String) -> Bool {
        guard current.isOperator(symbol) else { return false }
        advance()
        return true
    }

    func fail(_ message: String, line: Int? = nil) -> TemplateError {
        TemplateError.syntax(message, line: line ?? current.line)
    }

    func unexpected(_ expected: String) -> TemplateError {
        if current.kind == .eof { return fail("unexpected end of template, expected '\(expected)'.") }
        return fail("expected token '\(expected)', got '\(current.description)'")
    }

    @discardableResult
    mutating func expect(_ kind: TemplateTokenKind) throws -> TemplateToken {
        guard current.kind == kind else { throw unexpected(kind.description) }
        return advance()
    }

    mutating func expectOperator(_ symbol: String) throws {
        guard current.isOperator(symbol) else { throw unexpected(symbol) }
        advance()
    }

    mutating func expectName(_ name: String) throws {
        guard current.isName(name) else { throw unexpected(name) }
        advance()
    }

    mutating func enter() throws {
        depth += 1
        let position = TemplateRenderer.stackPosition()
        let used = position > stackBase ? position - stackBase : stackBase - position
        guard depth <= Self.maximumDepth, used < TemplateRenderer.stackBudget else {
            throw fail("the template nests too deeply (more than \(Self.maximumDepth) levels)")
        }
    }

    // MARK: Statements

    mutating func subparse(_ endTokens: [String]?) throws -> [TemplateNode] {
        var body: [TemplateNode] = []
        if let endTokens { endTokenStack.append(endTokens) }
        defer { if endTokens != nil { endTokenStack.removeLast() } }
        while current.kind != .eof {
            switch current.kind {
            case .data:
                body.append(.text(advance().text))
            case .variableBegin:
                advance()
                body.append(.output(try parseTuple()))
                try expect(.variableEnd)
            case .blockBegin:
                advance()
                if let endTokens, current.kind == .name, endTokens.contains(current.text) { return body }
                body.append(try parseStatement())
                try expect(.blockEnd)
            default:
                throw fail("unexpected '\(current.description)'")
            }
        }
        return body
    }

    mutating func parseStatements(_ endTokens: [String], dropNeedle: Bool = false) throws -> [TemplateNode] {
        _ = skipOperator(":")
        try expect(.blockEnd)
        try enter()
        defer { depth -= 1 }
        let body = try subparse(endTokens)
        if current.kind == .eof { throw unknownTag(nil, stack: endTokenStack + [endTokens], line: current.line) }
        if dropNeedle { advance() }
        return body
    }

    /// jinja2's `_fail_ut_eof`.
    func unknownTag(_ name: String?, stack: [[String]], line: Int) -> TemplateError {
        var message = [name.map { "Encountered unknown tag \(PythonText.repr($0))." } ?? "Unexpected end of template."]
        if let looking = stack.last {
            let names = looking.map { PythonText.repr($0) }.joined(separator: " or ")
            if let name, stack.contains(where: { $0.contains(name) }) {
                message.append(
                    "You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for "
                        + "\(names)."
                )
            } else {
                message.append("Jinja was looking for the following tags: \(names).")
            }
        }
        if let innermost = tagStack.last {
            message.append("The innermost block that needs to be closed is \(PythonText.repr(innermost)).")
        }
        return TemplateError.syntax(message.joined(separator: " "), line: line)
    }

    mutating func parseStatement() throws -> TemplateNode {
        let token = current
        guard token.kind == .name else { throw fail("tag name expected") }
        tagStack.append(token.text)
        defer { tagStack.removeLast() }
        switch token.text {
        case "for": return try parseFor()
        case "if": return try parseIf()
        case "set": return try parseSet()
        case "macro": return try parseMacro()
        case "with": return try parseWith()
        case "filter":
            advance()
            let filters = try parseFilterChain(inline: true)
            return .filterBlock(filters, body: try parseStatements(["endfilter"], dropNeedle: true))
        case "print":
            let line = advance().line
            var items: [TemplateExpr] = []
            while current.kind != .blockEnd {
                if !items.isEmpty { try expectOperator(",") }
                items.append(try parseExpression())
            }
            return .output(items.count == 1 ? items[0] : TemplateExpr(kind: .tuple(items), line: line))
        case "break", "continue":
            advance()
            guard loopDepth > 0 else { throw fail("'\(token.text)' outside loop", line: token.line) }
            return .loopControl(isBreak: token.text == "break", line: token.line)
        case "generation":
            advance()
            return .scoped(try parseStatements(["endgeneration"], dropNeedle: true))
        case "block", "extends", "include", "import", "from", "call", "autoescape", "do":
            throw fail("the '\(token.text)' tag is not supported by this template engine", line: token.line)
        default:
            tagStack.removeLast()
            defer { tagStack.append(token.text) }
            throw unknownTag(token.text, stack: endTokenStack, line: token.line)
        }
    }

    mutating func parseFor() throws -> TemplateNode {
        let line = advance().line
        let target = try parseAssignTarget(extraEndRules: ["in"])
        try expectName("in")
        let iterable = try parseTuple(withCondition: false, extraEndRules: ["recursive"])
        let condition = skipName("if") ? try parseExpression() : nil
        if current.isName("recursive") { throw fail("recursive loops are not supported by this template engine") }
        loopDepth += 1
        let body = try parseStatements(["endfor", "else"])
        loopDepth -= 1
        var otherwise: [TemplateNode] = []
        if advance().text != "endfor" { otherwise = try parseStatements(["endfor"], dropNeedle: true) }
        return .forLoop(
            TemplateForLoop(
                target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: line))
    }

    mutating func parseIf() throws -> TemplateNode {
        advance()
        var branches: [(test: TemplateExpr, body: [TemplateNode])] = []
        var otherwise: [TemplateNode] = []
        while true {
            let test = try parseTuple(withCondition: false)
            branches.append((test, try parseStatements(["elif", "else", "endif"])))
            let token = advance()
            if token.isName("elif") { continue }
            if token.isName("else") { otherwise = try parseStatements(["endif"], dropNeedle: true) }
            break
        }
        return .conditional(branches, otherwise: otherwise)
    }

    mutating func parseSet() throws -> TemplateNode {
        let line = advance().line
        let target = try parseAssignTarget(withNamespace: true)
        if skipOperator("=") { return .assign(target, try parseTuple(), line: line) }
        let filters = try parseFilterChain(inline: false)
        return .assignBlock(
            target, filters: filters, body: try parseStatements(["endset"], dropNeedle: true), line: line)
    }

    mutating func parseWith() throws -> TemplateNode {
        advance()
        var assignments: [(TemplateTarget, TemplateExpr)] = []
        while current.kind != .blockEnd {
            if !assignments.isEmpty { try expectOperator(",") }
            let target = try parseAssignTarget()
            try expectOperator("=")
            assignments.append((target, try parseExpression()))
        }
        return .with(assignments, body: try parseStatements(["endwith"], dropNeedle: true))
    }

    mutating func parseMacro() throws -> TemplateNode {
        let line = advance().line
        let name = try expect(.name).text
        try expectOperator("(")
        var parameters: [String] = []
        var defaults: [TemplateExpr] = []
        while !current.isOperator(")") {
            if !parameters.isEmpty { try expectOperator(",") }
            let parameter = try expect(.name)
            guard !["true", "false", "none", "True", "False", "None"].contains(parameter.text) else {
                throw fail("can't assign to 'const'", line: parameter.line)
            }
            if skipOperator("=") {
                defaults.append(try parseExpression())
            } else if !defaults.isEmpty {
                throw fail("non-default argument follows default argument")
            }
            parameters.append(parameter.text)
        }
        try expectOperator(")")
        let outerLoopDepth = loopDepth
        loopDepth = 0
        macroNames.append([])
        let body = try parseStatements(["endmacro"], dropNeedle: true)
        loopDepth = outerLoopDepth
        let names = macroNames.removeLast()
        if !macroNames.isEmpty { macroNames[macroNames.count - 1].formUnion(names) }
        return .macro(
            TemplateMacroDefinition(
                name: name, parameters: parameters, defaults: defaults, body: body,
                takesVarargs: names.contains("varargs"), takesKwargs: names.contains("kwargs"), line: line))
    }

    /// A name, a tuple of names, or (for `set`) `namespace.attribute`.
    mutating func parseAssignTarget(extraEndRules: [String] = [], withNamespace: Bool = false) throws -> TemplateTarget
    {
        if withNamespace, current.kind == .name, next.isOperator(".") {
            let namespace = advance().text
            advance()
            return .namespaceAttribute(namespace, try expect(.name).text)
        }
        let expr = try parseTuple(simplified: true, extraEndRules: extraEndRules)
        return try target(from: expr)
    }

    func target(from expr: TemplateExpr) throws -> TemplateTarget {
        switch expr.kind {
        case .name(let name): return .name(name)
        case .tuple(let items):
            do { return .tuple(try items.map(target(from:))) } catch {
                throw fail("can't assign to 'tuple'", line: expr.line)
            }
        case .constant: throw fail("can't assign to 'const'", line: expr.line)
        case .list: throw fail("can't assign to 'list'", line: expr.line)
        case .dict: throw fail("can't assign to 'dict'", line: expr.line)
        default: throw fail("can't assign to this expression", line: expr.line)
        }
    }
}
