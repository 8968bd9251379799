/// What one message (a log's line, a relayed frame) read as.
package enum MessageReading {
    /// An event, with the warning to report about it, if any.
    case event(Event, warning: String?)
    /// No event: why, in words.
    case malformed(String)
}

extension EventReader {
    /// Reads one message: the one way both recorders (and so the converter) turn a message's bytes into an event.
    ///
    /// - Parameters:
    ///   - bytes: The message.
    ///   - time: When it arrived, given to an event that carries no time of its own.
    ///   - recoveringCutOff: Whether a message cut off mid-payload (a log's last line, its writer killed mid-write)
    ///     keeps the audio before the cut, reported with the cut's warning.
    package mutating func readMessage(_ bytes: UnsafeRawBufferPointer, time: Double?, recoveringCutOff: Bool) -> MessageReading {
        let read: Result<Event, EventReadError>
        do throws(EventReadError) {
            read = .success(try self.read(bytes))
        } catch {
            read = .failure(error)
        }
        switch read {
        case .success(var event):
            if event.time == nil { event.time = time }
            return .event(event, warning: event.warning)
        case .failure(let error):
            if recoveringCutOff, error.isCutOff, var event = readCutOff(bytes) {
                if event.time == nil { event.time = time }
                let warning = event.warning ?? error.description
                event.warning = nil
                return .event(event, warning: warning)
            }
            return .malformed(error.description)
        }
    }
}
