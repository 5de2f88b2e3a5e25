import AtriumCore
import AtriumPersistence
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The object graph every entry point shares: database, repositories and domain services.
/// `buildApplication` puts HTTP around it; the CLI's admin commands use it directly.
public struct AtriumServices: Sendable {
    public let config: AtriumConfig
    public let database: AtriumDatabase
    public let accounts: AccountService
    public let keys: KeyService
    public let credits: CreditService
    public let spend: SpendTracker
    public let prices: PriceBook
    public let usage: any UsageRepository
    public let audit: AuditLog
    public let outbox: MailOutbox
    public let lifecycle: AccountLifecycle
    public let members: OrganizationMembers
    public let news: NewsService

    public static func make(config: AtriumConfig, logger: Logger) async throws -> AtriumServices {
        let database = try AtriumDatabase(location: try DatabaseLocation(url: config.resolvedDatabaseURL), logger: logger)
        do {
            do {
                try await database.prepareConnections()
            } catch {
                throw DatabaseFailure(stage: "opening \(database.location)", error)
            }
            if config.migrateOnStart { try await database.migrate() }
        } catch {
            await database.shutdown()
            throw error
        }
        let hasher = BcryptPasswordHasher(cost: UInt8(config.bcryptCost))
        let accountRepository = FluentAccountRepository(database: database)
        let sessions = FluentSessionRepository(database: database)
        let accounts = AccountService(
            accounts: accountRepository, sessions: sessions, hasher: hasher, requiresVerifiedEmail: config.requireVerifiedEmail,
            signUpThrottle: AttemptThrottle(
                maxFailures: config.signupsPerHour, window: 3600, message: "Too many sign-ups from this address. Try again later."))
        let keys = KeyService(repository: FluentAPIKeyRepository(database: database), cacheTTL: config.keyCacheTTL)
        let transport: any MailTransport
        do {
            transport = try config.smtp.map { try SMTPTransport(settings: $0) } ?? LogTransport(logger: logger)
        } catch {
            await database.shutdown()
            throw ConfigError(description: "smtp_ca_file could not be read: \(error)")
        }
        let outbox = MailOutbox(repository: SQLMailOutboxRepository(database: database), transport: transport, logger: logger)
        let mailer = AccountMail(outbox: outbox, catalog: try StringCatalog.bundled(), publicURL: config.resolvedPublicURL)
        let lifecycle = AccountLifecycle(
            accounts: accountRepository, sessions: sessions, tokens: FluentAccountTokenRepository(database: database), keys: keys,
            hasher: hasher, mailer: mailer,
            mailThrottle: AttemptThrottle(maxFailures: config.mailLinksPerHour, window: 3600, message: "Too many emails asked for. Try again later."))
        let members = OrganizationMembers(
            accounts: accounts, repository: accountRepository, invitations: SQLInvitationRepository(database: database), mailer: mailer)
        let creditRepository = SQLCreditRepository(database: database)
        let gate = CreditGate(repository: creditRepository, freeGrant: config.freeCreditMicros, overdraft: config.creditOverdraftMicros)
        let prices = PriceBook(repository: SQLPriceRepository(database: database))
        do {
            try await prices.reload()
        } catch {
            await database.shutdown()
            throw DatabaseFailure(stage: "reading the price table", error)
        }
        return AtriumServices(
            config: config, database: database, accounts: accounts, keys: keys,
            credits: CreditService(repository: creditRepository, gate: gate), spend: SpendTracker(repository: creditRepository), prices: prices,
            usage: SQLUsageRepository(database: database), audit: AuditLog(repository: SQLAuditRepository(database: database)),
            outbox: outbox, lifecycle: lifecycle, members: members, news: NewsService(repository: SQLPostRepository(database: database)))
    }
}

/// The composition root: wires services, providers, middleware and routes into one application.
/// Tests call this same function with a test configuration.
public func buildApplication(config: AtriumConfig, logger: Logger, metrics: ServerMetrics = ServerMetrics()) async throws
    -> some ApplicationProtocol
{
    // Templates, catalogs and static files first: a broken one stops the start before anything opens.
    let pages = try PageRenderer.bundled()
    let docs = try DocsLibrary.bundled()
    let reference = try APIReference.bundled(catalog: pages.catalog)
    let apiKeys = try config.providers.map(upstreamAPIKey)
    let services = try await AtriumServices.make(config: config, logger: logger)
    let upstreams = zip(config.providers, apiKeys).map { provider, apiKey in
        OpenAICompatibleProvider(
            name: provider.name, baseURL: provider.baseURL, apiKey: apiKey, timeouts: provider.upstreamTimeouts, logger: logger)
    }
    let embedded = config.engineEnabled ? EmbeddedProvider(models: EmbeddedModels.load(config: config, logger: logger)) : nil
    var entries = zip(config.providers, upstreams).map { config, provider in
        ModelCatalog.Entry(
            provider: provider, breaker: config.makeBreaker(),
            models: config.models.map { (name: $0.name, upstream: $0.upstream ?? $0.name, kind: $0.kind) },
            unsupported: Dictionary(config.models.map { ($0.name, Set($0.unsupported ?? [])) }, uniquingKeysWith: { $0.union($1) }))
    }
    if let embedded, !embedded.models.isEmpty {
        entries.append(ModelCatalog.Entry(provider: embedded, models: embedded.models.values.sorted { $0.name < $1.name }.map { ($0.name, $0.name, $0.kind) }))
    }
    let catalog = ModelCatalog(entries: entries)
    let dispatcher = GatewayDispatcher(catalog: catalog, logger: logger)
    let journal: UsageJournal
    do {
        journal = try UsageJournal(directory: config.resolvedJournalDirectory)
    } catch {
        await services.database.shutdown()
        throw error
    }
    let shared: (any SharedLimits)? = config.resolvedLimitsMode == .shared ? SQLSharedLimits(database: services.database) : nil
    let meter = Meter(
        limiter: RateLimiter(), credits: services.credits.gate, spend: services.spend, prices: services.prices, journal: journal,
        plans: Dictionary(config.plans.map { ($0.name, $0.rateLimit) }, uniquingKeysWith: { first, _ in first }),
        defaultPlan: config.defaultRateLimit, defaultMaxTokens: config.defaultMaxTokens,
        shared: shared, logger: logger)
    let charts = UsageChartCache()
    let committer = UsageCommitter(
        journal: journal, usage: services.usage, credits: services.credits.gate, spend: services.spend, prices: services.prices,
        interval: config.usageCommitInterval, logger: logger, metrics: metrics, shared: shared,
        isDatabaseUp: { [database = services.database] in await database.isReachable() },
        onCommitted: { charts.usageChanged($0) })

    let contract = try OpenAPIController()
    let router = Router(context: AtriumRequestContext.self)
    let clientAddress = ClientAddress(trustedProxies: config.trustedProxies)
    router.middlewares.add(RequestIDMiddleware())
    router.middlewares.add(ClientAddress.Middleware(resolver: clientAddress))
    router.middlewares.add(MetricsMiddleware(metrics: metrics))
    router.middlewares.add(ErrorMiddleware(paths: contract.paths, pages: pages))

    HealthController(database: services.database, catalog: catalog, metrics: metrics, generators: embedded?.generators ?? [:]).addRoutes(to: router)
    contract.addRoutes(to: router)

    let api = router.group("api").add(middleware: TextInputMiddleware()).add(middleware: SessionMiddleware(accounts: services.accounts))
    AuthController(accounts: services.accounts, lifecycle: services.lifecycle, secureCookies: config.secureCookies, maxBodyBytes: config.maxBodyBytes)
        .addRoutes(to: api.group("auth"))
    let signedIn = api.group(context: UserRequestContext.self)
    OrganizationController(accounts: services.accounts, maxBodyBytes: config.maxBodyBytes)
        .addRoutes(to: signedIn.group("organizations"))
    KeyController(keys: services.keys, accounts: services.accounts, maxBodyBytes: config.maxBodyBytes)
        .addRoutes(to: signedIn.group("keys"))
    UsageController(usage: services.usage, accounts: services.accounts).addRoutes(to: signedIn.group("usage"))
    CreditController(credits: services.credits, accounts: services.accounts, maxBodyBytes: config.maxBodyBytes)
        .addRoutes(to: signedIn.group("credits"))
    NotificationController(credits: services.credits, accounts: services.accounts).addRoutes(to: signedIn.group("notifications"))
    let staffActions = StaffActions(
        credits: services.credits, audit: services.audit, accounts: services.accounts, keys: services.keys, plans: Set(config.plans.map(\.name)))
    PriceController(prices: services.prices, audit: services.audit, maxBodyBytes: config.maxBodyBytes).addRoutes(to: signedIn.group("prices"))
    StaffBillingController(actions: staffActions, maxBodyBytes: config.maxBodyBytes).addRoutes(to: signedIn.group("admin"))

    let keyAuth = KeyAuthMiddleware(keys: services.keys, credits: services.credits.gate)
    let v1 = router.group("v1").add(middleware: keyAuth).group(context: KeyRequestContext.self)
    ModelAPIController(dispatcher: dispatcher, meter: meter, metrics: metrics, maxBodyBytes: config.maxBodyBytes).addRoutes(to: v1)
    TokenizeController(models: embedded?.generators ?? [:], maxBodyBytes: config.maxBodyBytes)
        .addRoutes(to: router.group().add(middleware: keyAuth).group(context: KeyRequestContext.self))

    pages.assets.addRoutes(to: router)
    let site = router.group().add(middleware: PageMiddleware(accounts: services.accounts, renderer: pages, secureCookies: config.secureCookies))
    let publicPages = site.group(context: PageContext.self)
    PortalController(
        renderer: pages, catalog: catalog, prices: services.prices, facts: ModelFacts(config: config, embedded: embedded),
        secureCookies: config.secureCookies
    ).addRoutes(to: publicPages)
    DocsController(
        renderer: pages, docs: docs, reference: reference, catalog: catalog, keys: services.keys, accounts: services.accounts,
        secureCookies: config.secureCookies
    ).addRoutes(to: publicPages)
    let signedInPages = site.group(context: SignedInPageContext.self)
    let newsPages = NewsPagesController(news: services.news, audit: services.audit, renderer: pages, publicURL: config.resolvedPublicURL)
    newsPages.addPublicRoutes(to: publicPages)
    newsPages.addStaffRoutes(to: signedInPages)
    AccountPagesController(accounts: services.accounts, lifecycle: services.lifecycle, renderer: pages, secureCookies: config.secureCookies)
        .addRoutes(to: publicPages)
    AccountRecoveryPagesController(lifecycle: services.lifecycle, renderer: pages, secureCookies: config.secureCookies).addRoutes(to: publicPages)
    AccountSettingsPagesController(lifecycle: services.lifecycle, renderer: pages, secureCookies: config.secureCookies).addRoutes(to: signedInPages)
    OrganizationPagesController(
        accounts: services.accounts, members: services.members, renderer: pages, publicURL: config.resolvedPublicURL, secureCookies: config.secureCookies
    ).addRoutes(to: signedInPages)
    PlaygroundPagesController(
        keys: services.keys, accounts: services.accounts, catalog: catalog, prices: services.prices, renderer: pages, secureCookies: config.secureCookies
    ).addRoutes(to: signedInPages)
    StaffPagesController(
        accounts: services.accounts, keys: services.keys, credits: services.credits, actions: staffActions, audit: services.audit, renderer: pages)
        .addRoutes(to: signedInPages)
    StaffProvidersPagesController(catalog: catalog, prices: services.prices, renderer: pages).addRoutes(to: signedInPages)
    StaffOutboxPagesController(
        outbox: services.outbox, audit: services.audit, renderer: pages,
        destination: config.smtp.map { "\($0.host):\($0.port) (\($0.security.rawValue))" }
    ).addRoutes(to: signedInPages)
    DashboardPagesController(
        accounts: services.accounts, credits: services.credits, usage: services.usage, news: services.news, charts: charts, renderer: pages)
        .addRoutes(to: signedInPages)
    KeyPagesController(keys: services.keys, accounts: services.accounts, catalog: catalog, renderer: pages, secureCookies: config.secureCookies)
        .addRoutes(to: signedInPages)
    KeySettingsPagesController(keys: services.keys, accounts: services.accounts, catalog: catalog, renderer: pages).addRoutes(to: signedInPages)

    let fastLane = FastLaneHandler.Services(
        keys: services.keys, catalog: catalog, meter: meter, metrics: metrics, maxBodyBytes: config.maxBodyBytes,
        clientAddress: clientAddress)
    var app = Application(
        router: router,
        server: .http1(fastLane: fastLane),
        configuration: .init(address: .hostname(config.host, port: config.port), serverName: nil),
        logger: logger)
    let keys = services.keys
    app.addServices(
        ShutdownHook {
            for upstream in upstreams { await upstream.shutdown() }
            embedded?.shutdown()
            await committer.drain()
            try? await keys.flushUsage()
            await services.database.shutdown()
        },
        PeriodicService(interval: .seconds(10)) { try? await keys.flushUsage() },
        PeriodicService(interval: .seconds(1)) { [outbox = services.outbox] in
            do { try await outbox.deliverDue() } catch { logger.debug("the outbox could not be read: \(error)") }
        },
        UsageCommitterService(committer: committer),
        PeriodicService(interval: .seconds(2)) {
            for entry in catalog.providers where entry.breaker.wantsProbe() {
                if await entry.provider.probe() { entry.breaker.recordSuccess() }
            }
        })
    if let probe = services.database.probe() { app.addServices(probe) }
    return app
}

/// A provider's API key, from the environment variable its config names. It is the one header value sent
/// upstream that the code does not write itself, so it is checked here, once, before anything opens: the
/// pooled client sends requests without NIO's per-request check of every header (PooledHTTPTransport).
private func upstreamAPIKey(_ provider: ProviderConfig) throws -> String? {
    guard let variable = provider.apiKeyEnv, let key = ProcessInfo.processInfo.environment[variable] else { return nil }
    guard key.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
        throw ConfigError(description: "The API key in \(variable) (provider \(provider.name)) holds a control character, which an HTTP header cannot carry.")
    }
    return key
}
