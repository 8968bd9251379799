import Hummingbird
import NIOCore

/// The request context of the relay's operations routes: Hummingbird's basic one, plus the peer's address, so that
/// `POST /drain` is taken from this machine only.
struct PeerRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    /// The connected peer (behind a proxy on this machine: the proxy, which is why DEPLOY.md's nginx refuses /drain).
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Whether the peer is on this machine (``isLoopback(_:)``).
    var isFromThisMachine: Bool { Self.isLoopback(remoteAddress) }

    /// Whether `address` is a loopback address: IPv4 127.0.0.0/8, IPv6 ::1, or IPv4 loopback mapped into IPv6
    /// (`::ffff:127.0.0.1`, what a dual-stack socket sees); a Unix socket or no address is not.
    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress?.lowercased() else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}
