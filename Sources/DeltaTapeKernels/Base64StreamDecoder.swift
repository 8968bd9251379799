/// Decodes base64 that arrives in pieces split at any byte (a long delta read in chunks, a payload spread over
/// network reads), with the same rules, output and error offsets as decoding it whole with ``Base64/decode(_:into:)``.
///
/// Each call decodes every complete 4-character group available and carries up to 3 characters to the next.
/// Offsets in errors count from the start of the whole stream.
package struct Base64StreamDecoder: Sendable {
    private var carried: [UInt8] = []
    /// Stream offset of the first `=` of the group that ended the data, once one has.
    private var paddingOffset: Int?
    /// Characters received so far.
    package private(set) var characterCount = 0

    /// Creates a decoder at the start of a stream.
    package init() {
        carried.reserveCapacity(4)
    }

    /// The output room a call with `chunkByteCount` new characters needs at most.
    package static func maximumDecodedByteCount(chunkByteCount: Int) -> Int {
        (chunkByteCount + 3) / 4 * 3
    }

    /// Decodes the complete groups of the carried characters and `chunk` into `output`.
    ///
    /// - Parameters:
    ///   - chunk: The next characters of the stream.
    ///   - output: Room for ``maximumDecodedByteCount(chunkByteCount:)`` bytes.
    /// - Returns: The number of bytes written.
    /// - Throws: ``Base64/DecodingError`` with the stream offset of the first invalid byte, or of the padding
    ///   that data followed.
    package mutating func decode(
        _ chunk: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer
    ) throws(Base64.DecodingError) -> Int {
        guard !chunk.isEmpty else { return 0 }
        if let paddingOffset { throw Base64.DecodingError(.misplacedPadding, at: paddingOffset) }
        var written = 0
        var index = 0
        if !carried.isEmpty {
            // Complete the carried group first.
            let taken = min(4 - carried.count, chunk.count)
            carried.append(contentsOf: chunk[..<taken])
            index = taken
            guard carried.count == 4 else {
                characterCount += taken
                return 0
            }
            let groupOffset = characterCount - (4 - taken)
            characterCount += taken
            let group = carried
            carried.removeAll(keepingCapacity: true)
            written = try group.withUnsafeBytes { text in
                decodeGroups(text, at: groupOffset, into: output)
            }.get()
        }
        let whole = (chunk.count - index) / 4 * 4
        if whole > 0 {
            if let paddingOffset { throw Base64.DecodingError(.misplacedPadding, at: paddingOffset) }
            let groups = UnsafeRawBufferPointer(rebasing: chunk[index..<(index + whole)])
            written += try decodeGroups(groups, at: characterCount, into: UnsafeMutableRawBufferPointer(rebasing: output[written...])).get()
            characterCount += whole
            index += whole
        }
        if index < chunk.count {
            if let paddingOffset { throw Base64.DecodingError(.misplacedPadding, at: paddingOffset) }
            carried.append(contentsOf: chunk[index...])
            characterCount += chunk.count - index
        }
        return written
    }

    /// Ends the stream.
    ///
    /// - Throws: ``Base64/DecodingError`` when the stream ended inside a group (cut short or unpadded), or with a
    ///   character outside the alphabet in that last partial group.
    package mutating func finish() throws(Base64.DecodingError) {
        guard !carried.isEmpty else { return }
        defer { carried.removeAll() }
        // As the whole-input decoder does: a bad character is reported before the length.
        var end = carried.count
        while end > 0, carried[end - 1] == Base64.pad { end -= 1 }
        let start = characterCount - carried.count
        for offset in 0..<end where Base64.decodeTable[Int(carried[offset])] & 0x80 != 0 {
            let byte = carried[offset]
            throw Base64.DecodingError(byte == Base64.pad ? .misplacedPadding : .invalidCharacter(byte), at: start + offset)
        }
        throw Base64.DecodingError(.invalidLength, at: characterCount)
    }

    /// Decodes whole groups whose first character is at stream offset `offset`; notes padding that ends the data.
    private mutating func decodeGroups(
        _ groups: UnsafeRawBufferPointer,
        at offset: Int,
        into output: UnsafeMutableRawBufferPointer
    ) -> Result<Int, Base64.DecodingError> {
        do throws(Base64.DecodingError) {
            let count = try Base64.decode(groups, into: output)
            if groups[groups.count - 1] == Base64.pad {
                paddingOffset = offset + groups.count - (groups[groups.count - 2] == Base64.pad ? 2 : 1)
            }
            return .success(count)
        } catch {
            return .failure(Base64.DecodingError(error.reason, at: error.offset + offset))
        }
    }
}
