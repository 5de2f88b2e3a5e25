import FluentKit

/// Every migration, in order. Landed migrations are never edited: add a new numbered one.
enum AtriumMigrations {
    static func all() -> Migrations {
        let migrations = Migrations()
        migrations.add(M0001CreateUsers())
        migrations.add(M0002CreateOrganizations())
        migrations.add(M0003CreateMemberships())
        migrations.add(M0004CreateSessions())
        migrations.add(M0005CreateAPIKeys())
        migrations.add(M0006CreateModelPrices())
        migrations.add(M0007CreateCreditLedger())
        migrations.add(M0008CreateUsageRecords())
        migrations.add(M0009CreateRedemptionCodes())
        migrations.add(M0010AddKeyRateLimits())
        migrations.add(M0011CreateSharedLimits())
        migrations.add(M0012CreateBudgets())
        return migrations
    }
}
