import Foundation

/// Why a template could not be parsed or rendered. The description names the template line when it is
/// known, then what went wrong in jinja2's own words where jinja2 has words for it.
public struct TemplateError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The template text is not valid Jinja (or uses a feature this engine does not have).
        case syntax
        /// An undefined value was used in a way jinja2 refuses (`x.y` where `x` is undefined).
        case undefined
        /// A Python type error: `'a' + 1`, iterating `None`, an unknown keyword argument.
        case type
        /// The template called `raise_exception(message)`; `message` is exactly its argument.
        case raised
        /// Mutating calls (`list.append`) and unsafe attributes, refused as jinja2's sandbox does.
        case security
        /// An output, loop, recursion or number bound was exceeded.
        case limit
        /// A context value given as JSON could not be parsed.
        case json
    }

    public let kind: Kind
    public let message: String
    /// 1-based line of the template where the error arose, when known.
    public internal(set) var line: Int?

    init(_ kind: Kind, _ message: String, line: Int? = nil) {
        self.kind = kind
        self.message = message
        self.line = line
    }

    public var description: String {
        guard let line else { return message }
        return "line \(line): \(message)"
    }

    static func syntax(_ message: String, line: Int) -> TemplateError { TemplateError(.syntax, message, line: line) }
    static func type(_ message: String) -> TemplateError { TemplateError(.type, message) }
}
