import FluentKit

/// Every migration, in order. Landed migrations are never edited: add a new numbered one.
enum AtriumMigrations {
    static let ordered: [any Migration] = [
        M0001CreateUsers(),
        M0002CreateOrganizations(),
        M0003CreateMemberships(),
        M0004CreateSessions(),
        M0005CreateAPIKeys(),
        M0006CreateModelPrices(),
        M0007CreateCreditLedger(),
        M0008CreateUsageRecords(),
        M0009CreateRedemptionCodes(),
        M0010AddKeyRateLimits(),
        M0011CreateSharedLimits(),
        M0012CreateBudgets(),
        M0013CreateAuditEvents(),
        M0014AddAccountLifecycle(),
        M0015CreateUsageDaily(),
        M0016AddKeyRestrictions(),
        M0017CreateInvitations(),
        M0018CreatePosts(),
        M0019AddUsageErrorMessage(),
        M0020IndexMembershipsByUser(),
        M0021DropUsageDayIndex(),
    ]

    /// Their names as Fluent records them, for saying which step failed.
    static var names: [String] { ordered.map(\.name) }

    static func all() -> Migrations {
        let migrations = Migrations()
        migrations.add(ordered)
        return migrations
    }
}
