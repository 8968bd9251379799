@_spi(Blocks) package import DeltaTapeEvents

/// Identifies one stream of audio: assistant output is keyed by `(response_id, item_id, content_index)`.
///
/// The one key type of the library: the reader points at these ids inside a message (``AudioDelta``'s ranges,
/// ``AudioStreamReference``); the timeline and the inspector hold them as this key.
package struct AudioStreamKey: Hashable, Sendable {
    /// The response the audio belongs to ("" when the message names none).
    package var responseID: String
    /// The item the audio belongs to ("" when the message names none).
    package var itemID: String
    /// The content part within the item.
    package var contentIndex: Int

    /// Creates a key.
    package init(responseID: String, itemID: String, contentIndex: Int) {
        self.responseID = responseID
        self.itemID = itemID
        self.contentIndex = contentIndex
    }

    /// The key a message names with byte ranges (absent ids are "").
    ///
    /// - Parameters:
    ///   - responseID: The `response_id` string's range in `message`, when present.
    ///   - itemID: The `item_id` string's range in `message`, when present.
    ///   - contentIndex: The `content_index`.
    ///   - message: The message bytes the ranges point into.
    package init(responseID: Range<Int>?, itemID: Range<Int>?, contentIndex: Int, in message: UnsafeRawBufferPointer) {
        func text(_ range: Range<Int>?) -> String {
            range.map { JSONString.decode(message, $0, hasEscapes: message[$0].contains(UInt8(ascii: "\\"))) } ?? ""
        }
        self.init(responseID: text(responseID), itemID: text(itemID), contentIndex: contentIndex)
    }

    /// The stream `delta` belongs to.
    package init(_ delta: AudioDelta, in message: UnsafeRawBufferPointer) {
        self.init(responseID: delta.responseID, itemID: delta.itemID, contentIndex: delta.contentIndex, in: message)
    }

    /// The stream a `.done` event names.
    package init(_ reference: AudioStreamReference, in message: UnsafeRawBufferPointer) {
        self.init(responseID: reference.responseID, itemID: reference.itemID, contentIndex: reference.contentIndex, in: message)
    }
}
