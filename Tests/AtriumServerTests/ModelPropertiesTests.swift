import FluentKit
import Testing

@testable import AtriumPersistence

/// Each Fluent model names its properties itself (so that Fluent skips reflection on every row): a
/// property added without being named there would never be read or written. These compare the named
/// ones with what reflection finds.
@Suite struct ModelPropertiesTests {
    @Test(arguments: [
        UserModel.self, OrganizationModel.self, MembershipModel.self, SessionModel.self, AccountTokenModel.self, APIKeyModel.self,
    ] as [any Fields.Type])
    func everyPropertyIsNamed(_ model: any Fields.Type) {
        let instance = model.init()
        let reflected = Mirror(reflecting: instance).children.compactMap { $0.value as? any AnyDatabaseProperty }.flatMap(\.keys)
        let named = instance.properties.compactMap { $0 as? any AnyDatabaseProperty }.flatMap(\.keys)
        #expect(!named.isEmpty)
        #expect(named == reflected, "\(model): named \(named), reflection finds \(reflected)")
    }
}
