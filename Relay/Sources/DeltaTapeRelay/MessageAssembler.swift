import DeltaTape
import NIOCore

/// Joins the frames of one message (a text or binary frame, then continuations until one is final) for the recording,
/// up to a size and within the relay's memory budget: the frames themselves are forwarded as they come whatever the
/// message's size, so only the recording's copy is bounded here. A class, so that a connection that ends in the middle
/// of a message gives its charge back (`deinit`).
final class MessageAssembler {
    /// What a frame did to the message it belongs to.
    enum Outcome: Equatable {
        /// The message goes on in later frames.
        case incomplete
        /// The frame completed this message, within the limits (`isBinary`: it began with a binary frame).
        case whole([UInt8], isBinary: Bool)
        /// The message grew past the size limit (its size in all, once complete): it is not recorded.
        case tooLarge(byteCount: Int)
        /// The relay's recordings held all the memory budget allows while the message was joined: it is not recorded.
        case overBudget(byteCount: Int)
    }

    let limit: Int
    private let budget: RecordingMemoryBudget?
    private var bytes: [UInt8] = []
    /// The bytes of ``bytes``' storage charged to the budget.
    private var charged = 0
    private var byteCount = 0
    private var refusal: Refusal?
    private var isBinary = false

    private enum Refusal { case tooLarge, overBudget }

    init(limit: Int, budget: RecordingMemoryBudget? = nil) {
        self.limit = limit
        self.budget = budget
    }

    deinit { drop() }

    /// Takes a frame's payload (`continues` for a continuation frame, `isFinal` for one with FIN, `isBinary` for a
    /// binary frame) and says what became of its message. A message past the limit or the budget is dropped as soon as it is: holding it would take
    /// memory without bound.
    ///
    /// A message is handed over in an array of its own (a message in one frame, the usual case, at its size): the
    /// recording holds it until recorded, and an array that kept the capacity of the largest message before it (a 1 MiB
    /// instruction, then thousands of 1-KiB deltas) would hold that much memory for each one.
    func add(_ data: ByteBuffer, continues: Bool, isFinal: Bool, isBinary: Bool = false) -> Outcome {
        if !continues {
            drop()
            byteCount = 0
            refusal = nil
            self.isBinary = isBinary
            // A message in one frame, the usual case: copied once, at its size (the recorder charges it to the budget).
            if isFinal {
                return data.readableBytes > limit ? .tooLarge(byteCount: data.readableBytes) : .whole(Array(data.readableBytesView), isBinary: isBinary)
            }
        }
        byteCount += data.readableBytes
        if refusal == nil {
            if byteCount > limit {
                refusal = .tooLarge
                drop()
            } else {
                appendCharged(data)
            }
        }
        guard isFinal else { return .incomplete }
        defer { drop() }
        switch refusal {
        case .tooLarge: return .tooLarge(byteCount: byteCount)
        case .overBudget: return .overBudget(byteCount: byteCount)
        case nil: return .whole(bytes, isBinary: self.isBinary)
        }
    }

    /// Appends a fragment, charging the storage it grows to the budget first; without room, the message is dropped.
    private func appendCharged(_ data: ByteBuffer) {
        let needed = bytes.count + data.readableBytes
        if let budget, needed > charged {
            // Storage grows by doubling, charged (and reserved) as it will be, so that what is charged is what is held;
            // near the budget's end, by just what the fragment needs.
            let doubled = min(limit, max(needed, 2 * charged))
            let capacity = budget.reserve(doubled - charged) ? doubled : budget.reserve(needed - charged) ? needed : nil
            guard let capacity else {
                refusal = .overBudget
                drop()
                return
            }
            bytes.reserveCapacity(capacity)
            charged = capacity
        }
        bytes.append(contentsOf: data.readableBytesView)
    }

    /// Lets go of the message's bytes and gives back their charge.
    private func drop() {
        bytes = []
        if charged > 0 { budget?.release(charged) }
        charged = 0
    }
}
