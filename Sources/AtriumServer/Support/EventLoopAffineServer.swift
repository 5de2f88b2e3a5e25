import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix

/// Runs each connection's task on the event loop that owns the connection.
///
/// By default Hummingbird handles a connection on Swift's global executor, so a proxied request changes
/// threads four times (loop → task → upstream loop → task → loop). On two cores those switches cost more
/// than the work (the profile showed a quarter of the time in the scheduler). With the connection's loop
/// as the task's executor preference, reading the request, calling the upstream on the same loop and
/// writing the response all stay on one thread. Handlers must not block, which Atrium's never do: bcrypt
/// and SQLite run on NIO's thread pool, and model engines run on their own threads.
struct EventLoopAffineHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        let executor = EventLoopTaskExecutor.for(value.channel.eventLoop)
        await withTaskExecutorPreference(executor) {
            await inner.handle(value: value, logger: logger)
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with each connection handled on its own event loop.
    static func eventLoopAffineHTTP1(configuration: HTTP1Channel.Configuration = .init()) -> HTTPServerBuilder {
        .init { responder in
            EventLoopAffineHTTP1Channel(inner: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}

/// A task executor that runs jobs on one NIO event loop.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    private init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute { job.runSynchronously(on: executor) }
    }

    private static let executors: [ObjectIdentifier: EventLoopTaskExecutor] = {
        var executors: [ObjectIdentifier: EventLoopTaskExecutor] = [:]
        for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
            executors[ObjectIdentifier(loop)] = EventLoopTaskExecutor(eventLoop: loop)
        }
        return executors
    }()

    /// The executor of one of the shared group's loops (made once, kept for the process's life).
    static func `for`(_ eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        executors[ObjectIdentifier(eventLoop)] ?? EventLoopTaskExecutor(eventLoop: eventLoop)
    }
}
