// Hand-written because Hummingbird's AvailableConnectionsDelegate stops accepting at its limit: a flood of idle sockets
// would then hold every later client, /healthz included, in the listen backlog until the request deadline.
import NIOCore
import Synchronization

/// The relay's connection limit (``RelayConfiguration/maximumConnections``). Each accepted connection is admitted or
/// refused at once. At the limit, a newcomer takes the place of the oldest connection that is not a session (one still
/// waiting for its request head, or a plain HTTP request): that one is answered 503 and closed, so idle or slow
/// sockets can never keep a real client or `/healthz` out. When every place is a session, the newcomer is refused.
final class ConnectionAdmission: Sendable {
    let limit: Int
    private let state = Mutex(State())

    private struct State {
        var nextNumber = 0
        /// The connections holding a place, by admission number (the oldest first when sorted).
        var holders: [Int: Holder] = [:]
    }

    private struct Holder {
        var isSession = false
        /// Answers the connection 503 and closes it (on its own loop).
        let evict: @Sendable () -> Void
    }

    /// A connection's place, to be marked as a session or given back.
    struct Ticket: Sendable {
        fileprivate let number: Int
    }

    init(limit: Int) {
        self.limit = limit
    }

    /// Connections holding a place now.
    var count: Int { state.withLock { $0.holders.count } }

    /// Admits a connection, making room when the relay is at its limit; nil when every place is a session's.
    ///
    /// - Parameter evict: Answers the connection 503 and closes it, should a newer one need its place.
    func admit(evict: @escaping @Sendable () -> Void) -> Ticket? {
        let (ticket, victim) = state.withLock { state -> (Ticket?, Holder?) in
            var victim: Holder?
            if state.holders.count >= limit {
                guard let oldest = state.holders.filter({ !$0.value.isSession }).keys.min() else { return (nil, nil) }
                victim = state.holders.removeValue(forKey: oldest)
            }
            state.nextNumber += 1
            state.holders[state.nextNumber] = Holder(evict: evict)
            return (Ticket(number: state.nextNumber), victim)
        }
        victim?.evict()
        return ticket
    }

    /// The connection's request asks for a WebSocket session: it keeps its place for good.
    func markSession(_ ticket: Ticket) {
        state.withLock { $0.holders[ticket.number]?.isSession = true }
    }

    /// The connection closed: its place is free.
    func release(_ ticket: Ticket) {
        state.withLock { _ = $0.holders.removeValue(forKey: ticket.number) }
    }
}
