// Hand-written because Hummingbird's AvailableConnectionsDelegate stops accepting at its limit: a flood of idle sockets
// would then hold every later client, /healthz included, in the listen backlog until the request deadline.
import NIOCore
import Synchronization

/// The relay's connection limit (``RelayConfiguration/maximumConnections``). Each accepted connection is admitted or
/// refused at once. At the limit, a newcomer takes the place of another connection that is not a session: the oldest
/// one that has sent nothing yet (an idle socket), or, when every such place has spoken, the oldest that is still
/// sending its request head or is a plain HTTP request. That one is answered 503 and closed, so idle or slow sockets
/// can never keep a real client or `/healthz` out, and a flood of sockets churning through the places never takes the
/// place of a client whose head is on its way. When every place is a session, the newcomer is refused.
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
        let activity: ConnectionActivity
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
    /// - Parameters:
    ///   - activity: Whether the connection has sent anything yet (an idle one is the first to give up its place).
    ///   - evict: Answers the connection 503 and closes it, should a newer one need its place.
    func admit(activity: ConnectionActivity, evict: @escaping @Sendable () -> Void) -> Ticket? {
        let (ticket, victim) = state.withLock { state -> (Ticket?, Holder?) in
            var victim: Holder?
            if state.holders.count >= limit {
                guard let number = Self.victim(among: state.holders) else { return (nil, nil) }
                victim = state.holders.removeValue(forKey: number)
            }
            state.nextNumber += 1
            state.holders[state.nextNumber] = Holder(activity: activity, evict: evict)
            return (Ticket(number: state.nextNumber), victim)
        }
        victim?.evict()
        return ticket
    }

    /// The place a newcomer takes: the oldest silent connection, else the oldest that is not a session.
    private static func victim(among holders: [Int: Holder]) -> Int? {
        var oldestSilent: Int?, oldestSpoken: Int?
        for (number, holder) in holders where !holder.isSession {
            if holder.activity.hasSpoken {
                if number < oldestSpoken ?? .max { oldestSpoken = number }
            } else if number < oldestSilent ?? .max {
                oldestSilent = number
            }
        }
        return oldestSilent ?? oldestSpoken
    }

    /// The connection's request asks for a WebSocket session: it keeps its place for good.
    ///
    /// - Returns: false when the place was taken by a newer connection first (the eviction is on its way to the
    ///   connection's loop): the request must not go on to the upstream.
    func markSession(_ ticket: Ticket) -> Bool {
        state.withLock { state in
            guard state.holders[ticket.number] != nil else { return false }
            state.holders[ticket.number]?.isSession = true
            return true
        }
    }

    /// The connection closed: its place is free.
    func release(_ ticket: Ticket) {
        state.withLock { _ = $0.holders.removeValue(forKey: ticket.number) }
    }
}

/// Whether a connection has sent a byte yet: set on its loop by the ``RequestHeadGuard``, read by the admission on
/// whichever loop admits a newcomer.
final class ConnectionActivity: Sendable {
    private let spoken = Atomic<Bool>(false)

    init() {}

    var hasSpoken: Bool { spoken.load(ordering: .relaxed) }

    func markSpoken() { spoken.store(true, ordering: .relaxed) }
}
