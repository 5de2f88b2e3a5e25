import AtriumCore

/// What a field of an OpenAI request body may hold. Messages follow OpenAI's wording, so clients that
/// match on them keep working.
indirect enum FieldRule: Sendable {
    case string(maxLength: Int? = nil)
    case nonEmptyString
    case bool
    case integer(ClosedRange<Int64>? = nil)
    case number(ClosedRange<Double>? = nil)
    case object
    case array(of: FieldRule? = nil, count: ClosedRange<Int>? = nil)
    case oneOf([String])
    case any
    case either([FieldRule], expected: String)
    case nullable(FieldRule)

    /// Nil when `value` is acceptable, else the error for field `param` (named only when there is an error:
    /// the names of array elements and nested fields are built on the way).
    func check(_ value: JSONValue, param: @autoclosure () -> String) -> AtriumError? {
        switch (self, value) {
        case (.nullable, .null), (.any, _):
            return nil
        case (.nullable(let inner), _):
            return inner.check(value, param: param())
        case (.string(let maxLength), .string(let string)):
            if let maxLength, string.count > maxLength {
                return .invalidRequest(
                    "Invalid '\(param())': string too long. Expected a string with maximum length \(maxLength), but got a string with length \(string.count) instead.",
                    param: param(), code: "string_above_max_length")
            }
            return nil
        case (.nonEmptyString, .string(let string)):
            return string.isEmpty
                ? .invalidRequest("Invalid '\(param())': empty string.", param: param(), code: "empty_string") : nil
        case (.bool, .bool):
            return nil
        case (.integer(let range), .int(let int)):
            return Self.checkRange(Double(int), range.map { Double($0.lowerBound)...Double($0.upperBound) }, param: param(), noun: "integer")
        case (.number(let range), .int(let int)):
            return Self.checkRange(Double(int), range, param: param(), noun: "decimal")
        case (.number(let range), .double(let double)):
            return Self.checkRange(double, range, param: param(), noun: "decimal")
        case (.object, .object):
            return nil
        case (.array(let element, let count), .array(let values)):
            if let count, !count.contains(values.count) {
                let problem = values.count < count.lowerBound ? "array too short" : "array too long"
                let expected = values.count < count.lowerBound
                    ? "minimum length \(count.lowerBound)" : "maximum length \(count.upperBound)"
                return .invalidRequest(
                    "Invalid '\(param())': \(problem). Expected an array with \(expected), but got an array with length \(values.count) instead.",
                    param: param(), code: values.count < count.lowerBound ? "empty_array" : "array_above_max_length")
            }
            guard let element else { return nil }
            for (index, value) in values.enumerated() {
                if let error = element.check(value, param: "\(param())[\(index)]") { return error }
            }
            return nil
        case (.oneOf(let allowed), .string(let string)):
            return allowed.contains(string)
                ? nil
                : .invalidRequest(
                    "Invalid value: '\(string.prefix(100))'. Supported values are: \(allowed.map { "'\($0)'" }.joined(separator: ", ")).",
                    param: param(), code: "invalid_value")
        case (.either(let rules, let expected), _):
            for rule in rules where rule.check(value, param: param()) == nil { return nil }
            for rule in rules { if let specific = rule.specificError(value, param: param()) { return specific } }
            return Self.typeError(param: param(), expected: expected, got: value)
        default:
            return Self.typeError(param: param(), expected: expectedName, got: value)
        }
    }

    /// The error of a rule whose type matched but whose contents did not (an element of an array, say),
    /// which is more useful than "wrong type" when one alternative of `either` nearly fitted.
    private func specificError(_ value: JSONValue, param: @autoclosure () -> String) -> AtriumError? {
        switch (self, value) {
        case (.array, .array), (.string, .string), (.nonEmptyString, .string), (.oneOf, .string), (.integer, .int):
            return check(value, param: param())
        default:
            return nil
        }
    }

    private var expectedName: String {
        switch self {
        case .string, .nonEmptyString, .oneOf: "a string"
        case .bool: "a boolean"
        case .integer: "an integer"
        case .number: "a decimal"
        case .object: "an object"
        case .array: "an array"
        case .any: "a value"
        case .either(_, let expected): expected
        case .nullable(let inner): inner.expectedName
        }
    }

    private static func typeError(param: String, expected: String, got value: JSONValue) -> AtriumError {
        .invalidRequest(
            "Invalid type for '\(param)': expected \(expected), but got \(value.typeName) instead.",
            param: param, code: "invalid_type")
    }

    private static func checkRange(_ value: Double, _ range: ClosedRange<Double>?, param: @autoclosure () -> String, noun: String) -> AtriumError? {
        guard let range, !range.contains(value) else { return nil }
        let param = param()
        let shown = value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        if value < range.lowerBound {
            return .invalidRequest(
                "Invalid '\(param)': \(noun) below minimum value. Expected a value >= \(format(range.lowerBound)), but got \(shown) instead.",
                param: param, code: "\(noun)_below_min_value")
        }
        return .invalidRequest(
            "Invalid '\(param)': \(noun) above maximum value. Expected a value <= \(format(range.upperBound)), but got \(shown) instead.",
            param: param, code: "\(noun)_above_max_value")
    }

    private static func format(_ bound: Double) -> String {
        bound.rounded() == bound && abs(bound) < 1e15 ? String(Int64(bound)) : String(bound)
    }
}

/// The fields an operation accepts, which are required, and any rule that spans fields.
struct RequestSchema: Sendable {
    var required: [String]
    var fields: [String: FieldRule]

    /// Throws the first problem found, naming its field.
    func validate(_ body: JSONValue) throws {
        guard case .object(let object) = body else {
            throw AtriumError.invalidRequest(
                "Invalid type for request body: expected an object, but got \(body.typeName) instead.", code: "invalid_type")
        }
        for name in required where object[name] == nil {
            throw AtriumError.invalidRequest("Missing required parameter: '\(name)'.", param: name, code: "missing_required_parameter")
        }
        // A pass in the dictionary's order finds a valid body (nearly every one) with one lookup a member;
        // only a body with a problem is walked again in key order, so the error reported is always the same.
        if object.allSatisfy({ key, value in fields[key].map { $0.check(value, param: key) == nil } ?? false }) { return }
        for key in object.keys.sorted() {
            guard let rule = fields[key] else {
                throw AtriumError.invalidRequest(
                    "Unrecognized request argument supplied: \(key.prefix(100))", param: String(key.prefix(100)),
                    code: "unknown_parameter")
            }
            if let error = rule.check(object[key]!, param: key) { throw error }
        }
    }
}
