// SwiftNIO's connection errors print as their structures (`Connection errors: SingleConnectionFailure(target:
// [IPv4]127.0.0.1/127.0.0.1:9, error: connection reset (error set): Connection refused (errno: 111))`); the relay's
// line about a 502 says the same in words, keeping the errno.
import Glibc
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

enum ConnectionFailureText {
    /// Why connecting to the upstream failed, as a sentence's clause: `cannot connect to 127.0.0.1:9: Connection
    /// refused, errno 111`, or for a name with several addresses `cannot connect to localhost:9: [::1]:9 Connection
    /// refused, errno 111; 127.0.0.1:9 Connection refused, errno 111`.
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let lookup = error.dnsAError ?? error.dnsAAAAError {
                return "cannot look up the address of \(error.host): \(describe(lookup))"
            }
            let named = "\(error.host):\(error.port)"
            let attempts = error.connectionErrors.map { (address: address($0.target), reason: describe($0.error)) }
            // One address, the one named: its reason alone. Several (a name with IPv4 and IPv6 addresses): each its own.
            if attempts.count == 1, let only = attempts.first, only.address == named { return "cannot connect to \(named): \(only.reason)" }
            return "cannot connect to \(named)" + (attempts.isEmpty ? "" : ": " + attempts.map { "\($0.address) \($0.reason)" }.joined(separator: "; "))
        case let error as UpstreamHandshake.HandshakeTimedOut:
            return "it did not answer the upgrade request within \(error.seconds) s"
        case let error as IOError:
            return "\(String(cString: strerror(error.errnoCode))), errno \(error.errnoCode)"
        case let error as ChannelError:
            if case .connectTimeout(let timeout) = error {
                return "no connection within \(Double(timeout.nanoseconds) / 1e9) s"
            }
            return "the connection failed: \(error)"
        case let error as NIOHTTPClientUpgradeError:
            switch error {
            // NIO's WebSocket upgrader denies a 101 whose Sec-WebSocket-Accept does not answer the key sent.
            case .upgraderDeniedUpgrade: return "its 101 answer is no WebSocket acceptance (a Sec-WebSocket-Accept for another key)"
            case .responseProtocolNotFound: return "its 101 answer switched to another protocol than WebSocket"
            default: return "the upgrade failed (\(error))"
            }
        case is HTTPParserError:
            return "its answer to the upgrade request is not HTTP"
        case let error as NIOSSLError:
            return "the TLS handshake failed: \(error)"
        case let error as BoringSSLError:
            return "the TLS handshake failed: \(error)"
        default:
            return "\(error)"
        }
    }

    /// `93.184.216.34:443`, `[2606:2800::1]:443`.
    private static func address(_ target: SocketAddress) -> String {
        guard let ip = target.ipAddress, let port = target.port else { return "\(target)" }
        return target.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}
