import Foundation

/// A literal as the parser sees it; runtime values (`Value`) can hold references and are not Sendable.
enum Constant: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
}

enum BinaryOperator: String, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case floorDivide = "//"
    case modulo = "%"
    case power = "**"
}

enum CompareOperator: Sendable {
    case equal, notEqual, less, lessEqual, greater, greaterEqual, contains, notContains
}

struct Arguments: Sendable {
    var positional: [Expr] = []
    var keywords: [(name: String, value: Expr)] = []
    var splat: Expr?
    var keywordSplat: Expr?
}

struct Expr: Sendable {
    let kind: ExprKind
    let line: Int
}

indirect enum ExprKind: Sendable {
    case constant(Constant)
    case name(String)
    case list([Expr])
    case tuple([Expr])
    case dict([(key: Expr, value: Expr)])
    case attribute(Expr, String)
    case item(Expr, Expr)
    /// Only as the index of `.item`: `a[start:stop:step]`.
    case slice(Expr?, Expr?, Expr?)
    case call(Expr, Arguments)
    case filter(Expr, String, Arguments)
    case test(Expr, String, Arguments)
    case not(Expr)
    case negate(Expr)
    case plus(Expr)
    case binary(BinaryOperator, Expr, Expr)
    case and(Expr, Expr)
    case or(Expr, Expr)
    /// `a ~ b ~ c`
    case concat([Expr])
    /// Python's chained comparison: `a < b < c`.
    case compare(Expr, [(CompareOperator, Expr)])
    /// `a if test else b`; without `else` a false test gives an undefined value.
    case conditional(test: Expr, then: Expr, otherwise: Expr?)
}

indirect enum Target: Sendable {
    case name(String)
    case tuple([Target])
    /// `{% set ns.attribute = ... %}`, allowed only on namespace objects.
    case namespaceAttribute(String, String)
}

struct FilterCall: Sendable {
    let name: String
    let arguments: Arguments
    let line: Int
}

struct ForLoop: Sendable {
    let target: Target
    let iterable: Expr
    let condition: Expr?
    let body: [Node]
    let otherwise: [Node]
    let line: Int
}

struct MacroDefinition: Sendable {
    let name: String
    let parameters: [String]
    /// Defaults of the last `defaults.count` parameters.
    let defaults: [Expr]
    let body: [Node]
    let takesVarargs: Bool
    let takesKwargs: Bool
    let line: Int
}

indirect enum Node: Sendable {
    case text(String)
    case output(Expr)
    case conditional([(test: Expr, body: [Node])], otherwise: [Node])
    case forLoop(ForLoop)
    case assign(Target, Expr, line: Int)
    case assignBlock(Target, filters: [FilterCall], body: [Node], line: Int)
    case macro(MacroDefinition)
    case filterBlock([FilterCall], body: [Node])
    case with([(Target, Expr)], body: [Node])
    case loopControl(isBreak: Bool, line: Int)
    /// A body rendered in its own scope: `{% generation %}`, which transformers renders as a call block.
    case scoped([Node])
}
