import Foundation

/// A literal as the parser sees it; runtime values (`JinjaValue`) can hold references and are not Sendable.
enum TemplateConstant: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
}

enum TemplateBinaryOperator: String, Sendable {
    case add = "+"
    case subtract = "-"
    case multiply = "*"
    case divide = "/"
    case floorDivide = "//"
    case modulo = "%"
    case power = "**"
}

enum TemplateCompareOperator: Sendable {
    case equal, notEqual, less, lessEqual, greater, greaterEqual, contains, notContains
}

struct TemplateArguments: Sendable {
    var positional: [TemplateExpr] = []
    var keywords: [(name: String, value: TemplateExpr)] = []
    var splat: TemplateExpr?
    var keywordSplat: TemplateExpr?
}

struct TemplateExpr: Sendable {
    let kind: TemplateExprKind
    let line: Int
}

indirect enum TemplateExprKind: Sendable {
    case constant(TemplateConstant)
    case name(String)
    case list([TemplateExpr])
    case tuple([TemplateExpr])
    case dict([(key: TemplateExpr, value: TemplateExpr)])
    case attribute(TemplateExpr, String)
    case item(TemplateExpr, TemplateExpr)
    /// Only as the index of `.item`: `a[start:stop:step]`.
    case slice(TemplateExpr?, TemplateExpr?, TemplateExpr?)
    case call(TemplateExpr, TemplateArguments)
    case filter(TemplateExpr, String, TemplateArguments)
    case test(TemplateExpr, String, TemplateArguments)
    case not(TemplateExpr)
    case negate(TemplateExpr)
    case plus(TemplateExpr)
    case binary(TemplateBinaryOperator, TemplateExpr, TemplateExpr)
    case and(TemplateExpr, TemplateExpr)
    case or(TemplateExpr, TemplateExpr)
    /// `a ~ b ~ c`
    case concat([TemplateExpr])
    /// Python's chained comparison: `a < b < c`.
    case compare(TemplateExpr, [(TemplateCompareOperator, TemplateExpr)])
    /// `a if test else b`; without `else` a false test gives an undefined value.
    case conditional(test: TemplateExpr, then: TemplateExpr, otherwise: TemplateExpr?)
}

indirect enum TemplateTarget: Sendable {
    case name(String)
    case tuple([TemplateTarget])
    /// `{% set ns.attribute = ... %}`, allowed only on namespace objects.
    case namespaceAttribute(String, String)
}

struct TemplateFilterCall: Sendable {
    let name: String
    let arguments: TemplateArguments
    let line: Int
}

struct TemplateForLoop: Sendable {
    let target: TemplateTarget
    let iterable: TemplateExpr
    let condition: TemplateExpr?
    let body: [TemplateNode]
    let otherwise: [TemplateNode]
    let line: Int
}

struct TemplateMacroDefinition: Sendable {
    let name: String
    let parameters: [String]
    /// Defaults of the last `defaults.count` parameters.
    let defaults: [TemplateExpr]
    let body: [TemplateNode]
    let takesVarargs: Bool
    let takesKwargs: Bool
    let line: Int
}

indirect enum TemplateNode: Sendable {
    case text(String)
    case output(TemplateExpr)
    case conditional([(test: TemplateExpr, body: [TemplateNode])], otherwise: [TemplateNode])
    case forLoop(TemplateForLoop)
    case assign(TemplateTarget, TemplateExpr, line: Int)
    case assignBlock(TemplateTarget, filters: [TemplateFilterCall], body: [TemplateNode], line: Int)
    case macro(TemplateMacroDefinition)
    case filterBlock([TemplateFilterCall], body: [TemplateNode])
    case with([(TemplateTarget, TemplateExpr)], body: [TemplateNode])
    case loopControl(isBreak: Bool, line: Int)
    /// A body rendered in its own scope: `{% generation %}`, which transformers renders as a call block.
    case scoped([TemplateNode])
}
