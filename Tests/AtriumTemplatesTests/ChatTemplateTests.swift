import Foundation
import Testing

@testable import AtriumTemplates

@Suite struct ChatTemplateTests {
    struct GoldenCase: Sendable {
        var name: String
        var template: String
        var context: [String: TemplateValue]
        var output: String?
        var error: String?
        var line: Int?
    }

    struct Golden: Sendable {
        var now: Date
        var templates: [String]
        var cases: [GoldenCase]
    }

    /// Made by tests/golden/make_chat_template_golden.py with Python's jinja2, set up as transformers sets it up.
    static let golden: Golden = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let data = try! Data(contentsOf: root.appendingPathComponent("tests/golden/chat_templates.json"))
        guard case .object(let file) = try! TemplateValue(jsonData: data), case .string(let now)? = file["now"],
            case .array(let templates)? = file["templates"], case .array(let cases)? = file["cases"]
        else { fatalError("tests/golden/chat_templates.json is malformed") }
        return Golden(
            now: naiveUTC(now),
            templates: templates.compactMap { if case .string(let name) = $0 { return name } else { return nil } },
            cases: cases.map { item in
                guard case .object(let c) = item, case .string(let name)? = c["name"],
                    case .string(let template)? = c["template"],
                    case .object(let context)? = c["context"]
                else { fatalError("malformed golden case") }
                var output: String?
                var error: String?
                var line: Int?
                if case .string(let text)? = c["output"] { output = text }
                if case .string(let text)? = c["error"] { error = text }
                if case .int(let number)? = c["line"] { line = number }
                return GoldenCase(
                    name: name, template: template, context: Dictionary(uniqueKeysWithValues: context.entries),
                    output: output, error: error, line: line)
            })
    }()

    /// "2024-09-25T10:11:12" read as UTC, the zone the golden renders use for `strftime_now`.
    static func naiveUTC(_ text: String) -> Date {
        let fields = text.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc
        let components = DateComponents(
            year: fields[0], month: fields[1], day: fields[2], hour: fields[3], minute: fields[4], second: fields[5])
        return calendar.date(from: components)!
    }

    static let utc = TimeZone(identifier: "UTC")!

    static func render(_ source: String, _ context: [String: TemplateValue] = [:]) throws -> String {
        try ChatTemplate(source).render(context, now: golden.now, timeZone: utc)
    }

    /// Every golden render is byte-identical (compared as UTF-8, not with String's canonical equivalence).
    @Test func goldenCasesRenderByteIdentical() throws {
        var mismatches = 0
        for golden in Self.golden.cases {
            guard let expected = golden.output else { continue }
            do {
                let output = try Self.render(golden.template, golden.context)
                if Array(output.utf8) != Array(expected.utf8) {
                    mismatches += 1
                    let got = output.debugDescription.prefix(300)
                    Issue.record("\(golden.name): got \(got), expected \(expected.debugDescription.prefix(300))")
                }
            } catch {
                mismatches += 1
                Issue.record("\(golden.name): threw \(error)")
            }
        }
        #expect(mismatches == 0)
    }

    /// Every golden failure fails here too, with jinja2's words (and line, for syntax errors).
    @Test func goldenErrorCasesThrow() {
        for golden in Self.golden.cases {
            guard let expected = golden.error else { continue }
            do {
                let output = try Self.render(golden.template, golden.context)
                Issue.record("\(golden.name): rendered \(output.debugDescription.prefix(200)) instead of failing")
            } catch let error as TemplateError {
                #expect(error.description.contains(expected), "\(golden.name): \(error.description)")
                if let line = golden.line { #expect(error.line == line, "\(golden.name): \(error.description)") }
            } catch {
                Issue.record("\(golden.name): threw \(error), not a TemplateError")
            }
        }
    }

    @Test func goldenFileCoversTheRealTemplates() {
        let templates = Set(Self.golden.templates)
        for family in [
            "smollm2", "chatml", "llama3.1", "mistral-v0.3", "gemma", "qwen2.5", "phi3", "zephyr", "deepseek-r1",
        ] {
            #expect(templates.contains(family), "\(family) is missing from the golden file")
        }
        #expect(Self.golden.cases.count >= 250)
        #expect(Self.golden.cases.filter { $0.error != nil }.count >= 40)
    }

    @Test func whitespaceControlFollowsTrimAndLstripBlocks() throws {
        let source = "<s>\n  {% for m in messages %}\n  [{{ m }}]\n  {% endfor %}\n  {{- '|' -}}  \n  end\n"
        #expect(try Self.render(source, ["messages": ["a", "b"]]) == "<s>\n  [a]\n  [b]\n|end")
        #expect(try Self.render("a {%- if true -%}  b  {%- endif %}\n c") == "ab c")
        #expect(try Self.render("a\n  {%+ if true %}b{% endif +%}\nc") == "a\n  b\nc")
    }

    @Test func loopVariables() throws {
        let source =
            "{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}"
            + "{{ loop.length }}[{{ loop.previtem }}{{ loop.nextitem }}];{% endfor %}"
        #expect(try Self.render(source, ["items": ["a", "b"]]) == "101TrueFalse2[b];210FalseTrue2[a];")
        #expect(
            try Self.render(
                "{% for x in [1, 2, 3, 4] if x is even %}{{ loop.index }}/{{ loop.length }} {% else %}none{% endfor %}")
                == "1/2 2/2 ")
    }

    @Test func raiseExceptionCarriesTheMessage() throws {
        let template = try ChatTemplate(
            "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}")
        do {
            _ = try template.render(["messages": [["role": "system", "content": "hi"]]])
            Issue.record("raise_exception did not throw")
        } catch let error as TemplateError {
            #expect(error.kind == .raised)
            #expect(error.message == "System role not supported")
            #expect(error.description.contains("System role not supported"))
        }
    }

    @Test func undefinedVariablesBehaveAsJinja2s() throws {
        #expect(
            try Self.render(
                "[{{ missing }}][{{ missing is defined }}][{{ missing|length }}][{% for x in missing %}x{% endfor %}]"
                    + "[{{ d.nope }}]",
                ["d": [:]]) == "[][False][0][][]")
        do {
            _ = try Self.render("line 1\n{{ missing.attribute }}")
            Issue.record("an attribute of an undefined value did not throw")
        } catch let error as TemplateError {
            #expect(error.kind == .undefined)
            #expect(error.line == 2)
            #expect(error.description == "line 2: 'missing' is undefined")
        }
    }

    @Test func syntaxErrorNamesTheLine() {
        do {
            _ = try ChatTemplate("one\n{% if x %}\ntwo {% endfor %}")
            Issue.record("the template parsed")
        } catch let error as TemplateError {
            #expect(error.kind == .syntax)
            #expect(error.line == 3)
            #expect(error.description.hasPrefix("line 3: Encountered unknown tag 'endfor'."))
        } catch {
            Issue.record("threw \(error)")
        }
    }

    @Test func runawayTemplatesHitLimitsInsteadOfExhaustingMemory() throws {
        let cases: [(String, [String: TemplateValue])] = [
            ("{% for i in range(20) %}{{ 'x' * 90000 }}{% endfor %}", [:]),
            ("{% for x in items %}{% endfor %}", ["items": .array(Array(repeating: .int(1), count: 100_001))]),
            ("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}", [:]),
            ("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", [:]),
            ("{{ 2 ** 64 }}", [:]),
        ]
        for (source, context) in cases {
            do {
                _ = try Self.render(source, context)
                Issue.record("\(source) rendered")
            } catch let error as TemplateError {
                #expect(error.kind == .limit, "\(source): \(error)")
            }
        }
        let deep = String(repeating: "(", count: 500) + "1" + String(repeating: ")", count: 500)
        #expect(throws: TemplateError.self) { _ = try ChatTemplate("{{ " + deep + " }}") }
        #expect(throws: TemplateError.self) { _ = try ChatTemplate(String(repeating: "{% if true %}", count: 500)) }
    }

    @Test func jsonContextKeepsKeyOrderForToJSON() throws {
        let tools = try TemplateValue(json: #"[{"name": "b", "parameters": {"z": 1, "a": [1.0, 2.5e-7, null, true]}}]"#)
        #expect(
            try Self.render("{{ tools[0]|tojson }}", ["tools": tools])
                == #"{"name": "b", "parameters": {"z": 1, "a": [1.0, 2.5e-07, null, true]}}"#)
        let indented =
            """
            {
              "name": "b",
              "parameters": {
                "z": 1,
                "a": [
                  1.0,
                  2.5e-07,
                  null,
                  true
                ]
              }
            }
            """
        #expect(try Self.render("{{ tools[0]|tojson(indent=2) }}", ["tools": tools]) == indented)
    }

    @Test func jsonContextIsReadStrictlyWithTheGatewaysReader() throws {
        // The gateway's parser (AtriumJSON) builds template values too: a repeated key keeps its first
        // place and its last value, as a Python dict does, and invalid JSON says where it stopped.
        let object = try TemplateValue(json: #"{"b": 1, "a": {"x": "\u00e9\ud83d\ude00"}, "b": 2}"#)
        guard case .object(let members) = object else { Issue.record("not an object"); return }
        #expect(members.keys == ["b", "a"])
        #expect(members["b"] == .int(2))
        #expect(members["a"] == .object(["x": .string("é😀")]))
        // Hostile nesting is refused, not a stack overflow.
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: TemplateError.self) { _ = try TemplateValue(json: deep) }
        for (text, offset) in [(#"{"a": 1,}"#, 8), ("[1, 2", 5), (#""\ud800""#, 7), ("01", 1), ("[] []", 3)] {
            do {
                _ = try TemplateValue(json: text)
                Issue.record("\(text) was read")
            } catch let error as TemplateError {
                #expect(error.kind == .json)
                #expect("\(error)".contains("at byte \(offset)"), "\(text): \(error)")
            }
        }
    }

    /// jinja2's `selectattr` returns a generator: truthy even when empty, and used up by one pass.
    @Test func filtersReturnOneShotGeneratorsAsInJinja2() throws {
        let context: [String: TemplateValue] = ["messages": [["role": "user", "content": "hi"]]]
        let source =
            "{% set system = messages|selectattr('role', 'equalto', 'system') %}"
            + "{{ 'has system' if system else 'none' }}|{{ system|list|length }}|"
            + "{% set roles = messages|map(attribute='role') %}{{ roles|list }}{{ roles|list }}"
        #expect(try Self.render(source, context) == "has system|0|['user'][]")
    }

    @Test func valuesPrintAsPythonPrintsThem() throws {
        let context: [String: TemplateValue] = ["x": ["a": [1, 2.0, "it's", nil, true]]]
        #expect(
            try Self.render("{{ x }} {{ 7 // -2 }} {{ -7 % 3 }} {{ 1 / 4 }} {{ 1e16 }}", context)
                == #"{'a': [1, 2.0, "it's", None, True]} -4 2 0.25 1e+16"#)
    }
}
