import AtriumML
import AtriumTemplates

extension TemplateValue {
    /// A request's JSON as a chat template sees it. JSON objects arrive without an order, so keys are
    /// taken sorted, which keeps a rendering (and its cached prefix) the same from one request to the next.
    public init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let value): self = .bool(value)
        case .int(let value): self = .int(Int(value))
        case .double(let value): self = .double(value)
        case .string(let value): self = .string(value)
        case .array(let items): self = .array(items.map(TemplateValue.init))
        case .object(let members):
            self = .object(TemplateObject(members.sorted { $0.key < $1.key }.map { (key: $0.key, value: TemplateValue($0.value)) }))
        }
    }
}
