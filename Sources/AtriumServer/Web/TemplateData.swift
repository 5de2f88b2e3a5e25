import Foundation

/// View models as swift-mustache reads them fastest. It finds a struct's fields by reflection on every
/// name it looks up, and a name inside a section (`{{t.…}}` in a loop) is looked up in each enclosing
/// value first, so a page of lists spent most of its time in `Mirror`. Turned into dictionaries once
/// per render, the same lookups are hash-table reads (the portal benchmark: `/docs/chat` went from
/// about 800 to 1,750 pages/s).

/// A view model that hands the template its fields itself, for the many small values of a list.
protocol TemplateFields {
    var templateFields: [String: Any] { get }
}

enum TemplateData {
    /// `value` with every struct or class turned into `[String: Any]` of its stored properties (nil
    /// ones left out, so that they read as false), arrays converted element by element. Dictionaries
    /// are passed as they are: the string catalogs are large and already what the templates want.
    static func prepare(_ value: Any) -> Any {
        switch value {
        case is String, is Bool, is any BinaryInteger, is Double, is Date, is UUID, is [String: Any]:
            return value
        case let array as [Any]:
            return array.map(prepare)
        case let fields as any TemplateFields:
            return fields.templateFields
        default:
            let mirror = Mirror(reflecting: value)
            switch mirror.displayStyle {
            case .optional:
                return mirror.children.first.map { prepare($0.value) } ?? value
            case .struct, .class:
                var fields: [String: Any] = [:]
                for child in mirror.children {
                    guard let label = child.label, let present = unwrapped(child.value) else { continue }
                    fields[label] = prepare(present)
                }
                return fields
            default:
                return value
            }
        }
    }

    /// The value inside an optional, nil for `.none`; anything else as it is.
    private static func unwrapped(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return value }
        return mirror.children.first?.value
    }
}
