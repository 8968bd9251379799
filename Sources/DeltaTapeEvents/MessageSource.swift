/// Something that hands out one message at a time with the line it starts on: JSON Lines, a JSON array, the
/// WebSocket frames of a HAR export.
@_spi(Blocks) public protocol MessageSource: AnyObject {
    /// Total bytes read from the input so far.
    var byteCount: Int { get }
    /// The next message's bytes (valid until the next call) and the 1-based line it starts on; `nil` at the end.
    func nextMessage() throws(InputError) -> (line: Int, bytes: UnsafeRawBufferPointer)?
    /// Where the last message came from when its line alone does not say (`WebSocket frame 12`), for reports.
    var messageLabel: String? { get }
    /// Why the last message could not be taken out of its container, when it could not (its bytes are then no message).
    var messageProblem: String? { get }
    /// When the last message was sent or received, in seconds since the Unix epoch, when the container says.
    var messageTime: Double? { get }
    /// For a container of WebSocket frames (a HAR): the connections found so far, the frames skipped because they hold no
    /// JSON message, the elements of frame arrays that are no frame object (`[[frames]]`), and the frame arrays passed over
    /// because they are outside `log.entries[]`; `nil` for other containers.
    var webSocketCounts: (connections: Int, nonMessageFrames: Int, nonFrameElements: Int, misplacedFrameArrays: Int)? { get }
}

extension MessageSource {
    /// No label by default.
    public var messageLabel: String? { nil }
    /// No problem by default.
    public var messageProblem: String? { nil }
    /// No time by default.
    public var messageTime: Double? { nil }
    /// No WebSocket counts by default (only a HAR has them).
    public var webSocketCounts: (connections: Int, nonMessageFrames: Int, nonFrameElements: Int, misplacedFrameArrays: Int)? { nil }
}

extension LineReader: MessageSource {
    /// The next line, as a message.
    public func nextMessage() throws(InputError) -> (line: Int, bytes: UnsafeRawBufferPointer)? {
        guard let (number, bytes) = try nextLine() else { return nil }
        return (number, bytes)
    }

    /// What was wrong with the line just returned (cut off, too long), if anything.
    public var messageProblem: String? { lineProblem }
}
