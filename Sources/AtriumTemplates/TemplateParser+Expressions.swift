import Foundation

/// jinja2's expression grammar, loosest binding first: conditional, `or`, `and`, `not`, comparisons,
/// `+ -`, `~`, `* / // %`, `**` (left-associative, unlike Python), unary signs, then postfix access,
/// calls, filters and tests, which bind tighter than any operator (`a + b | trim` trims only `b`).
extension TemplateParser {
    mutating func parseTuple(
        simplified: Bool = false, withCondition: Bool = true, extraEndRules: [String] = [],
        explicitParentheses: Bool = false
    ) throws -> TemplateExpr {
        let line = current.line
        var items: [TemplateExpr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOperator(",") }
            if isTupleEnd(extraEndRules) { break }
            items.append(simplified ? try parsePrimary() : try parseExpression(withCondition: withCondition))
            guard current.isOperator(",") else { break }
            isTuple = true
        }
        if !isTuple {
            if let first = items.first { return first }
            if !explicitParentheses { throw fail("Expected an expression, got '\(current.description)'") }
        }
        return TemplateExpr(kind: .tuple(items), line: line)
    }

    func isTupleEnd(_ extraEndRules: [String]) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd: return true
        case .operator: return current.text == ")"
        case .name: return extraEndRules.contains(current.text)
        default: return false
        }
    }

    mutating func parseExpression(withCondition: Bool = true) throws -> TemplateExpr {
        try enter()
        defer { depth -= 1 }
        return withCondition ? try parseConditional() : try parseOr()
    }

    mutating func parseConditional() throws -> TemplateExpr {
        var line = current.line
        var expr = try parseOr()
        while skipName("if") {
            let test = try parseOr()
            let otherwise = skipName("else") ? try parseConditional() : nil
            expr = TemplateExpr(kind: .conditional(test: test, then: expr, otherwise: otherwise), line: line)
            line = current.line
        }
        return expr
    }

    mutating func parseOr() throws -> TemplateExpr {
        var expr = try parseAnd()
        while current.isName("or") {
            let line = advance().line
            expr = TemplateExpr(kind: .or(expr, try parseAnd()), line: line)
        }
        return expr
    }

    mutating func parseAnd() throws -> TemplateExpr {
        var expr = try parseNot()
        while current.isName("and") {
            let line = advance().line
            expr = TemplateExpr(kind: .and(expr, try parseNot()), line: line)
        }
        return expr
    }

    mutating func parseNot() throws -> TemplateExpr {
        guard current.isName("not") else { return try parseCompare() }
        let line = advance().line
        try enter()
        defer { depth -= 1 }
        return TemplateExpr(kind: .not(try parseNot()), line: line)
    }

    mutating func parseCompare() throws -> TemplateExpr {
        let line = current.line
        let expr = try parseMath1()
        var operations: [(TemplateCompareOperator, TemplateExpr)] = []
        let symbols: [String: TemplateCompareOperator] = [
            "==": .equal, "!=": .notEqual, "<": .less, "<=": .lessEqual,
            ">": .greater, ">=": .greaterEqual,
        ]
        while true {
            if current.kind == .operator, let op = symbols[current.text] {
                advance()
                operations.append((op, try parseMath1()))
            } else if skipName("in") {
                operations.append((.contains, try parseMath1()))
            } else if current.isName("not"), next.isName("in") {
                advance()
                advance()
                operations.append((.notContains, try parseMath1()))
            } else {
                break
            }
        }
        return operations.isEmpty ? expr : TemplateExpr(kind: .compare(expr, operations), line: line)
    }

    mutating func parseMath1() throws -> TemplateExpr {
        var expr = try parseConcat()
        while current.isOperator("+") || current.isOperator("-") {
            let token = advance()
            expr = TemplateExpr(
                kind: .binary(token.text == "+" ? .add : .subtract, expr, try parseConcat()), line: token.line)
        }
        return expr
    }

    mutating func parseConcat() throws -> TemplateExpr {
        let line = current.line
        var items = [try parseMath2()]
        while skipOperator("~") { items.append(try parseMath2()) }
        return items.count == 1 ? items[0] : TemplateExpr(kind: .concat(items), line: line)
    }

    mutating func parseMath2() throws -> TemplateExpr {
        var expr = try parsePower()
        let operators: [String: TemplateBinaryOperator] = [
            "*": .multiply, "/": .divide, "//": .floorDivide, "%": .modulo,
        ]
        while current.kind == .operator, let op = operators[current.text] {
            let line = advance().line
            expr = TemplateExpr(kind: .binary(op, expr, try parsePower()), line: line)
        }
        return expr
    }

    mutating func parsePower() throws -> TemplateExpr {
        var expr = try parseUnary()
        while current.isOperator("**") {
            let line = advance().line
            expr = TemplateExpr(kind: .binary(.power, expr, try parseUnary()), line: line)
        }
        return expr
    }

    mutating func parseUnary(withFilter: Bool = true) throws -> TemplateExpr {
        try enter()
        defer { depth -= 1 }
        let line = current.line
        var expr: TemplateExpr
        if skipOperator("-") {
            expr = TemplateExpr(kind: .negate(try parseUnary(withFilter: false)), line: line)
        } else if skipOperator("+") {
            expr = TemplateExpr(kind: .plus(try parseUnary(withFilter: false)), line: line)
        } else {
            expr = try parsePrimary()
        }
        expr = try parsePostfix(expr)
        return withFilter ? try parseFilterExpression(expr) : expr
    }

    mutating func parsePrimary() throws -> TemplateExpr {
        let token = current
        switch token.kind {
        case .name:
            advance()
            switch token.text {
            case "true", "True": return TemplateExpr(kind: .constant(.bool(true)), line: token.line)
            case "false", "False": return TemplateExpr(kind: .constant(.bool(false)), line: token.line)
            case "none", "None": return TemplateExpr(kind: .constant(.none), line: token.line)
            default:
                if !macroNames.isEmpty { macroNames[macroNames.count - 1].insert(token.text) }
                return TemplateExpr(kind: .name(token.text), line: token.line)
            }
        case .string:
            // Adjacent literals concatenate, as in Python.
            var text = advance().text
            while current.kind == .string { text += advance().text }
            return TemplateExpr(kind: .constant(.string(text)), line: token.line)
        case .integer:
            advance()
            return TemplateExpr(kind: .constant(.int(token.integer)), line: token.line)
        case .float:
            advance()
            return TemplateExpr(kind: .constant(.double(token.float)), line: token.line)
        case .operator where token.text == "(":
            advance()
            try enter()
            defer { depth -= 1 }
            let expr = try parseTuple(explicitParentheses: true)
            try expectOperator(")")
            return expr
        case .operator where token.text == "[":
            return try parseList()
        case .operator where token.text == "{":
            return try parseDict()
        default:
            throw fail("unexpected '\(token.description)'")
        }
    }

    mutating func parseList() throws -> TemplateExpr {
        let line = advance().line
        try enter()
        defer { depth -= 1 }
        var items: [TemplateExpr] = []
        while !current.isOperator("]") {
            if !items.isEmpty { try expectOperator(",") }
            if current.isOperator("]") { break }
            items.append(try parseExpression())
        }
        try expectOperator("]")
        return TemplateExpr(kind: .list(items), line: line)
    }

    mutating func parseDict() throws -> TemplateExpr {
        let line = advance().line
        try enter()
        defer { depth -= 1 }
        var items: [(key: TemplateExpr, value: TemplateExpr)] = []
        while !current.isOperator("}") {
            if !items.isEmpty { try expectOperator(",") }
            if current.isOperator("}") { break }
            let key = try parseExpression()
            try expectOperator(":")
            items.append((key, try parseExpression()))
        }
        try expectOperator("}")
        return TemplateExpr(kind: .dict(items), line: line)
    }

    mutating func parsePostfix(_ base: TemplateExpr) throws -> TemplateExpr {
        var expr = base
        while true {
            if current.isOperator(".") || current.isOperator("[") {
                expr = try parseSubscript(expr)
            } else if current.isOperator("(") {
                expr = try parseCall(expr)
            } else {
                return expr
            }
        }
    }

    mutating func parseFilterExpression(_ base: TemplateExpr) throws -> TemplateExpr {
        var expr = base
        while true {
            if current.isOperator("|") {
                for filter in try parseFilterChain(inline: false) {
                    expr = TemplateExpr(kind: .filter(expr, filter.name, filter.arguments), line: filter.line)
                }
            } else if current.isName("is") {
                expr = try parseTest(expr)
            } else if current.isOperator("(") {
                expr = try parseCall(expr)
            } else {
                return expr
            }
        }
    }

    mutating func parseSubscript(_ base: TemplateExpr) throws -> TemplateExpr {
        let token = advance()
        if token.text == "." {
            let attribute = advance()
            if attribute.kind == .name { return TemplateExpr(kind: .attribute(base, attribute.text), line: token.line) }
            guard attribute.kind == .integer else { throw fail("expected name or number", line: attribute.line) }
            return TemplateExpr(
                kind: .item(base, TemplateExpr(kind: .constant(.int(attribute.integer)), line: attribute.line)),
                line: token.line)
        }
        var items: [TemplateExpr] = []
        while !current.isOperator("]") {
            if !items.isEmpty { try expectOperator(",") }
            items.append(try parseSubscribed())
        }
        try expectOperator("]")
        let index = items.count == 1 ? items[0] : TemplateExpr(kind: .tuple(items), line: token.line)
        return TemplateExpr(kind: .item(base, index), line: token.line)
    }

    mutating func parseSubscribed() throws -> TemplateExpr {
        let line = current.line
        var start: TemplateExpr?
        if !skipOperator(":") {
            let expr = try parseExpression()
            guard skipOperator(":") else { return expr }
            start = expr
        }
        var stop: TemplateExpr?
        if !current.isOperator(":"), !current.isOperator("]"), !current.isOperator(",") { stop = try parseExpression() }
        var step: TemplateExpr?
        if skipOperator(":"), !current.isOperator("]"), !current.isOperator(",") { step = try parseExpression() }
        return TemplateExpr(kind: .slice(start, stop, step), line: line)
    }

    mutating func parseCall(_ callee: TemplateExpr) throws -> TemplateExpr {
        let line = current.line
        return TemplateExpr(kind: .call(callee, try parseCallArguments()), line: line)
    }

    mutating func parseCallArguments() throws -> TemplateArguments {
        let line = current.line
        try expectOperator("(")
        try enter()
        defer { depth -= 1 }
        var arguments = TemplateArguments()
        var requireComma = false
        let invalid = { (self: TemplateParser) in self.fail("invalid syntax for function call expression", line: line) }
        while !current.isOperator(")") {
            if requireComma {
                try expectOperator(",")
                if current.isOperator(")") { break }
            }
            if skipOperator("*") {
                guard arguments.splat == nil, arguments.keywordSplat == nil else { throw invalid(self) }
                arguments.splat = try parseExpression()
            } else if skipOperator("**") {
                guard arguments.keywordSplat == nil else { throw invalid(self) }
                arguments.keywordSplat = try parseExpression()
            } else if current.kind == .name, next.isOperator("=") {
                guard arguments.keywordSplat == nil else { throw invalid(self) }
                let name = advance().text
                advance()
                arguments.keywords.append((name, try parseExpression()))
            } else {
                guard arguments.splat == nil, arguments.keywordSplat == nil, arguments.keywords.isEmpty else {
                    throw invalid(self)
                }
                arguments.positional.append(try parseExpression())
            }
            requireComma = true
        }
        try expectOperator(")")
        return arguments
    }

    /// `| name(args) | name ...`; `inline` starts without a leading pipe (`{% filter upper %}`).
    mutating func parseFilterChain(inline: Bool) throws -> [TemplateFilterCall] {
        var filters: [TemplateFilterCall] = []
        var first = inline
        while current.isOperator("|") || first {
            if !first { advance() }
            first = false
            let token = try expect(.name)
            var name = token.text
            while skipOperator(".") { name += "." + (try expect(.name).text) }
            guard TemplateFilters.names.contains(name) else {
                throw fail("No filter named \(PythonText.repr(name)).", line: token.line)
            }
            let arguments = current.isOperator("(") ? try parseCallArguments() : TemplateArguments()
            filters.append(TemplateFilterCall(name: name, arguments: arguments, line: token.line))
        }
        return filters
    }

    mutating func parseTest(_ base: TemplateExpr) throws -> TemplateExpr {
        let token = advance()
        let negated = skipName("not")
        var name = try expect(.name).text
        while skipOperator(".") { name += "." + (try expect(.name).text) }
        guard TemplateTests.names.contains(name) else {
            throw fail("No test named \(PythonText.repr(name)).", line: token.line)
        }
        var arguments = TemplateArguments()
        if current.isOperator("(") {
            arguments = try parseCallArguments()
        } else if [.name, .string, .integer, .float].contains(current.kind) || current.isOperator("(")
            || current.isOperator("[") || current.isOperator("{"),
            !current.isName("else"), !current.isName("or"), !current.isName("and")
        {
            if current.isName("is") { throw fail("You cannot chain multiple tests with is") }
            arguments.positional = [try parsePostfix(try parsePrimary())]
        }
        let test = TemplateExpr(kind: .test(base, name, arguments), line: token.line)
        return negated ? TemplateExpr(kind: .not(test), line: token.line) : test
    }
}
