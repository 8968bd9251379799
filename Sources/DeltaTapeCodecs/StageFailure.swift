/// A failure of a streaming stage that hands its output on through an `emit` closure: the stage's own (a C
/// library's error) or the one the next stage threw from `emit`, each keeping its type, so that callers switch
/// over two cases instead of sorting untyped errors in catch blocks.
@_spi(Blocks) public enum StageFailure<Own: Error, Downstream: Error>: Error {
    /// The stage itself failed.
    case own(Own)
    /// The next stage failed while taking the output (for example a write to a full disk).
    case downstream(Downstream)

    /// Passes `value` to `emit`, wrapping what it throws as ``downstream(_:)``.
    @inlinable
    public static func emit<Value>(_ value: Value, to emit: (Value) throws(Downstream) -> Void) throws(StageFailure) {
        do throws(Downstream) {
            try emit(value)
        } catch {
            throw .downstream(error)
        }
    }
}

extension StageFailure: Sendable where Own: Sendable, Downstream: Sendable {}

extension StageFailure: CustomStringConvertible {
    /// The underlying error's description.
    public var description: String {
        switch self {
        case .own(let error): "\(error)"
        case .downstream(let error): "\(error)"
        }
    }
}
