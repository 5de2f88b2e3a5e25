import ServiceLifecycle

/// Runs `work` every `interval` until shutdown, then once more so nothing collected is lost.
struct PeriodicService: Service {
    let interval: Duration
    let work: @Sendable () async -> Void

    func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await work()
        }
    }
}

/// Waits for shutdown, then runs `onShutdown` (closing pools after the server has drained).
struct ShutdownHook: Service {
    let onShutdown: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await onShutdown()
    }
}
