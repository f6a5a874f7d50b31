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
/// being answered no timer runs: the request's own deadline covers that. And it tells the
/// request in progress when the client goes away (its side of the connection closed).
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let watch = ClientWatch()
    private let idleTimeout: TimeAmount
    private let readTimeout: TimeAmount
    private var timer: Scheduled<Void>?

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

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

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
        context.write(data, promise: promise)
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
