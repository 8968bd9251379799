// A loopback HTTP proxy in front of the test S3 server that injects faults into chosen requests: an answer of its own
// (503 SlowDown, 500, a 200 whose body is an <Error>), a connection dropped before the request reaches the server or
// partway through its body, or an answer cut short. Everything else passes through untouched, signatures included.
import Foundation
import Synchronization

/// What the proxy does to a request a rule matches.
public enum S3Fault: Sendable {
    /// Answers with this status and body itself; the request never reaches the server.
    case answer(status: Int, body: String)
    /// Closes the connection once the request's head has arrived: the client sees no answer.
    case dropConnection
    /// Passes the request on, and closes the connection after this many bytes of the answer (headers included).
    case cutAnswer(afterBytes: Int)
    /// Passes the request's head and this many bytes of its body on, then closes both connections: the server never
    /// gets the whole part, the client sees its connection broken mid-body.
    case dropMidBody(afterBytes: Int)
}

/// One request as the proxy saw it.
public struct S3ProxiedRequest: Sendable {
    /// `GET`, `PUT`, …
    public var method: String
    /// The path and query, as sent.
    public var target: String
    /// The request's headers, names lowercased.
    public var headers: [String: String]
}

/// A proxy on a loopback port, forwarding to an upstream `http://127.0.0.1:PORT`. Each connection carries one request
/// (the proxy adds `Connection: close`), so every request is seen and can be matched. Stopped with ``stop()``.
public final class S3FaultProxy: Sendable {
    /// `http://127.0.0.1:PORT`, to give the client as its endpoint.
    public let endpoint: String
    private let upstreamPort: UInt16
    private let listener: Int32
    private let rules = Mutex<[(method: String, targetContains: String, fault: S3Fault, remaining: Int)]>([])
    private let seen = Mutex<[S3ProxiedRequest]>([])
    private let stopped = Mutex(false)

    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    ///
    /// - Throws: `TestSupportError` when it cannot listen.
    public init(upstream: String) throws {
        guard let port = upstream.split(separator: ":").last.flatMap({ UInt16($0) }) else { throw TestSupportError("upstream \(upstream) has no port") }
        upstreamPort = port
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, length) == 0 && listen(descriptor, 64) == 0 && getsockname(descriptor, $0, &length) == 0
            }
        }
        guard descriptor >= 0, listening else {
            if descriptor >= 0 { close(descriptor) }
            throw TestSupportError("the fault proxy cannot listen: \(String(cString: strerror(errno)))")
        }
        listener = descriptor
        endpoint = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "s3-fault-proxy"
        thread.start()
    }

    /// Applies `fault` to the next `count` requests whose method is `method` and whose path-and-query contains
    /// `targetContains`.
    public func inject(_ fault: S3Fault, method: String, targetContains: String, count: Int = 1) {
        rules.withLock { $0.append((method, targetContains, fault, count)) }
    }

    /// Every request seen so far, in order.
    public var requests: [S3ProxiedRequest] { seen.withLock { $0 } }

    /// Stops accepting connections.
    public func stop() {
        guard !stopped.withLock({ value -> Bool in defer { value = true }; return value }) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func acceptLoop() {
        while !stopped.withLock({ $0 }) {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let thread = Thread { [self] in serve(client) }
            thread.start()
        }
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let headEnd: Int
        while true {
            if let end = buffer.firstRange(of: [13, 10, 13, 10]) { headEnd = end.upperBound; break }
            let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            guard count > 0, buffer.count < 1 << 20 else { return }
            buffer += chunk[..<count]
        }
        let head = String(decoding: buffer[..<headEnd], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        guard !lines.isEmpty else { return }
        let requestLine = lines[0].split(separator: " ")
        guard requestLine.count >= 2 else { return }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let request = S3ProxiedRequest(method: String(requestLine[0]), target: String(requestLine[1]), headers: headers)
        seen.withLock { $0.append(request) }
        let fault = rules.withLock { rules -> S3Fault? in
            guard let index = rules.firstIndex(where: { $0.method == request.method && request.target.contains($0.targetContains) && $0.remaining > 0 })
            else { return nil }
            rules[index].remaining -= 1
            return rules[index].fault
        }
        var cutAfter = Int.max
        var bodyAllowed = Int.max
        switch fault {
        case .answer(let status, let body):
            let answer = "HTTP/1.1 \(status) Fault\r\nContent-Type: application/xml\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
            sendAll(client, Array(answer.utf8))
            return
        case .dropConnection:
            return
        case .cutAnswer(let bytes):
            cutAfter = bytes
        case .dropMidBody(let bytes):
            bodyAllowed = bytes
        case nil:
            break
        }
        // One request per connection: the head again, with Connection: close, then whatever followed it.
        lines.removeAll { $0.lowercased().hasPrefix("connection:") }
        let forwardedHead = lines.joined(separator: "\r\n") + "\r\nConnection: close\r\n\r\n"
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(upstream) }
        var address = loopback(port: upstreamPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { return }
        let early = buffer[headEnd...].prefix(bodyAllowed)
        sendAll(upstream, Array(forwardedHead.utf8) + early)
        guard early.count < bodyAllowed else { return }
        pump(client: client, upstream: upstream, cutAfter: cutAfter, bodyAllowed: bodyAllowed == Int.max ? Int.max : bodyAllowed - early.count)
    }

    /// Relays bytes both ways until the server closes (or the answer, or the request's body, has been cut).
    private func pump(client: Int32, upstream: Int32, cutAfter: Int, bodyAllowed: Int) {
        var answered = 0
        var bodyLeft = bodyAllowed
        var chunk = [UInt8](repeating: 0, count: 65_536)
        var descriptors = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: upstream, events: Int16(POLLIN), revents: 0)]
        while true {
            guard poll(&descriptors, 2, 30_000) > 0 else { return }
            if descriptors[0].revents != 0 {
                let count = chunk.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return }
                let allowed = min(count, bodyLeft)
                sendAll(upstream, Array(chunk[..<allowed]))
                if bodyLeft != Int.max { bodyLeft -= allowed }
                if bodyLeft <= 0 { return }
            }
            if descriptors[1].revents != 0 {
                let count = chunk.withUnsafeMutableBytes { recv(upstream, $0.baseAddress, $0.count, 0) }
                if count <= 0 { return }
                let allowed = min(count, cutAfter - answered)
                sendAll(client, Array(chunk[..<allowed]))
                answered += allowed
                if answered >= cutAfter { return }
            }
        }
    }

    private func sendAll(_ descriptor: Int32, _ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            sent += count
        }
    }
}

private func loopback(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(port.bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}
