import Hummingbird
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import SmartCrop
import Synchronization

/// What the request in progress on a connection hears about its client: that it went away.
/// The request's `StopSignal` is cancelled then, so its image work stops and its worker is free
/// for someone who is still waiting.
final class ClientWatch: Sendable {
    private struct State {
        var current: StopSignal?
        var gone = false
    }
    private let state = Mutex(State())

    static let goneReason = "the client closed the connection"

    /// Ties `stop` to this connection until `detach`; cancels it at once if the client is gone.
    func attach(_ stop: StopSignal) {
        let gone = state.withLock { state in
            state.current = stop
            return state.gone
        }
        if gone { stop.cancel(reason: Self.goneReason) }
    }

    func detach() { state.withLock { $0.current = nil } }

    func clientLeft() {
        let current = state.withLock { state in
            state.gone = true
            return state.current
        }
        current?.cancel(reason: Self.goneReason)
    }
}

/// One per connection, after the HTTP codec. It closes connections whose client is too slow
/// to send a request: `idleTimeout` from the end of the previous answer (or from connecting)
/// until a request's headers are in, which bounds both idle keep-alive connections and headers
/// dribbled in a byte at a time; then `readTimeout` until the body is in. While a request is
/// being answered no timer runs: the request's own deadline covers that. It tells the
/// request in progress when the client goes away (its side of the connection closed). And it
/// holds a close back until the answer written before it has reached the socket.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let watch = ClientWatch()
    private let idleTimeout: TimeAmount
    private let readTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// Writes passed on whose bytes the socket has not taken yet.
    private var unwrittenWrites = 0
    private var closeWhenWritten: EventLoopPromise<Void>?
    private var closeDeadline: Scheduled<Void>?

    init(idleTimeout: Duration, readTimeout: Duration) {
        self.idleTimeout = TimeAmount(idleTimeout)
        self.readTimeout = TimeAmount(readTimeout)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(idleTimeout, context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(idleTimeout, context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        disarm()
        closeDeadline?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(readTimeout, context: context)
        case .body: break
        case .end: disarm()
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(idleTimeout, context: context) }
        let written = promise ?? context.eventLoop.makePromise()
        unwrittenWrites += 1
        written.futureResult.assumeIsolated().whenComplete { _ in
            self.unwrittenWrites -= 1
            if self.unwrittenWrites == 0 { self.closeNow(context) }
        }
        context.write(data, promise: written)
    }

    /// When the server shuts down, Hummingbird closes each connection right after handing on
    /// its last answer, and NIO drops whatever of the answer the socket has not taken yet: an
    /// answer larger than the socket buffers was cut short. The close waits for the answer, for
    /// as long as an idle client may keep a connection; a client that reads nothing for that
    /// long is gone anyway.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, unwrittenWrites > 0 else { return context.close(mode: mode, promise: promise) }
        if let waiting = closeWhenWritten {
            if let promise { waiting.futureResult.cascade(to: promise) }
            return
        }
        closeWhenWritten = promise ?? context.eventLoop.makePromise()
        closeDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: idleTimeout) { self.closeNow(context) }
    }

    private func closeNow(_ context: ChannelHandlerContext) {
        guard let promise = closeWhenWritten else { return }
        closeWhenWritten = nil
        closeDeadline?.cancel()
        closeDeadline = nil
        context.close(mode: .all, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { watch.clientLeft() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        watch.clientLeft()
        context.fireChannelInactive()
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        disarm()
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    /// The watch of the connection a request came in on.
    static func watch(of channel: any Channel) async throws -> ClientWatch {
        try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: ConnectionGuard.self).watch
        }.get()
    }
}

/// The request context of our routes: Hummingbird's basic one plus the connection, so a
/// handler can learn when its client goes away.
struct ServerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
