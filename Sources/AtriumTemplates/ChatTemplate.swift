import Foundation

/// A Hugging Face chat template (`tokenizer.chat_template`), rendered as transformers'
/// `apply_chat_template` renders it: jinja2's `ImmutableSandboxedEnvironment` with `trim_blocks`,
/// `lstrip_blocks`, loop controls, `raise_exception`, `strftime_now` and transformers' `tojson`.
///
/// The caller supplies the variables transformers would: `messages`, `add_generation_prompt`,
/// the special tokens (`bos_token`, `eos_token`, ...) and `tools`. transformers always passes
/// `tools` and `documents`, as `.none` when there are none; pass them the same way for identical output.
public struct ChatTemplate: Sendable {
    let nodes: [TemplateNode]

    /// Parses the template once; throws a `TemplateError` naming the line of a syntax error.
    public init(_ source: String) throws {
        nodes = try TemplateParser.parse(source)
    }

    /// Renders the template; `strftime_now` reads the current local time, as transformers does.
    /// Throws a `TemplateError`: `.raised` for the template's own `raise_exception`, `.limit` past
    /// 1,000,000 characters of output, 100,000 items in one loop or too deep a nesting.
    public func render(_ context: [String: TemplateValue]) throws -> String {
        try render(context, now: Date(), timeZone: .current)
    }

    /// Renders with `strftime_now` reading the given instant in the given time zone.
    public func render(_ context: [String: TemplateValue], now: Date, timeZone: TimeZone) throws -> String {
        try TemplateRenderer(now: now, timeZone: timeZone).render(nodes, context: context)
    }
}
