@_spi(Blocks) import DeltaTapeEvents

extension ConversionError {
    /// The conversion's error for a session log that could not be opened or read.
    init(_ error: SessionLogError) {
        switch error {
        case .unreadable(let error): self = .unreadableInput(error)
        case .notASessionLog(let message): self = .badInput(message)
        }
    }

    /// Runs `body`, which opens or reads a session log, and throws its error as the conversion's.
    static func carrying<Value>(_ body: () throws(SessionLogError) -> Value) throws(ConversionError) -> Value {
        do throws(SessionLogError) {
            return try body()
        } catch {
            throw ConversionError(error)
        }
    }
}

extension SessionLog {
    /// Reads up to the next event and returns it, valid until the next call; `nil` at the end of the input.
    ///
    /// - Parameter problem: Receives each problem on the way (a malformed line, a warning about the event); throwing
    ///   from it stops reading (strict mode).
    /// - Throws: ``ConversionError/unreadableInput(_:)`` when reading fails, or what `problem` throws.
    package func nextEvent(problem: (Problem) throws(ConversionError) -> Void) throws(ConversionError) -> (line: Int, event: Event)? {
        while true {
            let item: SessionLogItem?
            do throws(InputError) {
                item = try next()
            } catch {
                throw .unreadableInput(error)
            }
            switch item {
            case nil: return nil
            case .event(let line, let event): return (line, event)
            case .problem(let found): try problem(found)
            }
        }
    }
}
