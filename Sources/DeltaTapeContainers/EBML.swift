/// Building EBML (RFC 8794) elements into byte arrays, and reading their headers back: the encoding under Matroska
/// and WebM.
enum EBML {
    /// Element IDs used by the WebM writer (Matroska specification, `ebml_matroska.xml`).
    enum ID {
        static let ebml: UInt32 = 0x1A45_DFA3
        static let ebmlVersion: UInt32 = 0x4286
        static let ebmlReadVersion: UInt32 = 0x42F7
        static let ebmlMaxIDLength: UInt32 = 0x42F2
        static let ebmlMaxSizeLength: UInt32 = 0x42F3
        static let docType: UInt32 = 0x4282
        static let docTypeVersion: UInt32 = 0x4287
        static let docTypeReadVersion: UInt32 = 0x4285
        static let segment: UInt32 = 0x1853_8067
        static let seekHead: UInt32 = 0x114D_9B74
        static let seek: UInt32 = 0x4DBB
        static let seekID: UInt32 = 0x53AB
        static let seekPosition: UInt32 = 0x53AC
        static let info: UInt32 = 0x1549_A966
        static let timestampScale: UInt32 = 0x2A_D7B1
        static let muxingApp: UInt32 = 0x4D80
        static let writingApp: UInt32 = 0x5741
        static let duration: UInt32 = 0x4489
        static let tracks: UInt32 = 0x1654_AE6B
        static let trackEntry: UInt32 = 0xAE
        static let trackNumber: UInt32 = 0xD7
        static let trackUID: UInt32 = 0x73C5
        static let trackType: UInt32 = 0x83
        static let codecID: UInt32 = 0x86
        static let codecPrivate: UInt32 = 0x63A2
        static let codecDelay: UInt32 = 0x56AA
        static let seekPreRoll: UInt32 = 0x56BB
        static let audio: UInt32 = 0xE1
        static let samplingFrequency: UInt32 = 0xB5
        static let channels: UInt32 = 0x9F
        static let cluster: UInt32 = 0x1F43_B675
        static let timestamp: UInt32 = 0xE7
        static let simpleBlock: UInt32 = 0xA3
        static let blockGroup: UInt32 = 0xA0
        static let block: UInt32 = 0xA1
        static let discardPadding: UInt32 = 0x75A2
        static let cues: UInt32 = 0x1C53_BB6B
        static let cuePoint: UInt32 = 0xBB
        static let cueTime: UInt32 = 0xB3
        static let cueTrackPositions: UInt32 = 0xB7
        static let cueTrack: UInt32 = 0xF7
        static let cueClusterPosition: UInt32 = 0xF1
        static let void: UInt32 = 0xEC
    }

    /// The 8-byte size that means "unknown" (live streams: the element runs until its parent ends).
    static let unknownSize: [UInt8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]

    /// An element ID's bytes (IDs carry their own length marker).
    static func id(_ id: UInt32) -> [UInt8] {
        switch id {
        case 0..<0x100: [UInt8(id)]
        case 0x100..<0x1_0000: [UInt8(id >> 8), UInt8(id & 0xFF)]
        case 0x1_0000..<0x100_0000: [UInt8(id >> 16), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)]
        default: [UInt8(id >> 24), UInt8(id >> 16 & 0xFF), UInt8(id >> 8 & 0xFF), UInt8(id & 0xFF)]
        }
    }

    /// A size as a variable-length integer, in the fewest bytes (all-ones values are reserved, so they take more).
    static func size(_ value: Int) -> [UInt8] {
        var length = 1
        while length < 8, UInt64(value) >= (UInt64(1) << (7 * length)) - 1 { length += 1 }
        return size(value, length: length)
    }

    /// A size as a variable-length integer of exactly `length` bytes (for sizes patched in place later).
    static func size(_ value: Int, length: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: length)
        var remaining = UInt64(value)
        for index in stride(from: length - 1, through: 0, by: -1) {
            bytes[index] = UInt8(remaining & 0xFF)
            remaining >>= 8
        }
        bytes[0] |= UInt8(0x80 >> (length - 1))
        return bytes
    }

    static func element(_ elementID: UInt32, _ payload: [UInt8]) -> [UInt8] {
        id(elementID) + size(payload.count) + payload
    }

    static func unsigned(_ elementID: UInt32, _ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        var remaining = value
        repeat {
            bytes.insert(UInt8(remaining & 0xFF), at: 0)
            remaining >>= 8
        } while remaining > 0
        return element(elementID, bytes)
    }

    static func signed(_ elementID: UInt32, _ value: Int64) -> [UInt8] {
        var bytes: [UInt8] = []
        var remaining = value
        repeat {
            bytes.insert(UInt8(truncatingIfNeeded: remaining), at: 0)
            remaining >>= 8
        } while !(remaining == 0 && bytes[0] & 0x80 == 0) && !(remaining == -1 && bytes[0] & 0x80 != 0)
        return element(elementID, bytes)
    }

    static func float(_ elementID: UInt32, _ value: Double) -> [UInt8] {
        withUnsafeBytes(of: value.bitPattern.bigEndian) { element(elementID, Array($0)) }
    }

    static func string(_ elementID: UInt32, _ value: String) -> [UInt8] {
        element(elementID, Array(value.utf8))
    }

    /// An element's header read back: its ID, its size (`nil`: unknown, all ones), and the header's length.
    struct Header {
        var id: UInt32
        var size: Int?
        var byteCount: Int
        /// Bytes of the size field (8 for the sizes ``WebMOpusWriter`` patches in place).
        var sizeByteCount: Int
    }

    /// The element header at `offset` in `bytes`: `nil` when the bytes end first, or are no header (a first byte 0, an
    /// ID longer than 4 bytes, a size that does not fit an `Int`).
    static func header(in bytes: ArraySlice<UInt8>, at offset: Int) -> Header? {
        guard offset < bytes.endIndex, bytes[offset] != 0 else { return nil }
        let idLength = bytes[offset].leadingZeroBitCount + 1
        guard idLength <= 4, offset + idLength < bytes.endIndex, bytes[offset + idLength] != 0 else { return nil }
        let id = bytes[offset..<(offset + idLength)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let sizeAt = offset + idLength
        let sizeLength = bytes[sizeAt].leadingZeroBitCount + 1
        guard sizeAt + sizeLength <= bytes.endIndex else { return nil }
        var value = UInt64(bytes[sizeAt] & (0xFF >> sizeLength))
        for index in 1..<sizeLength { value = value << 8 | UInt64(bytes[sizeAt + index]) }
        let unknown = value == (UInt64(1) << (7 * UInt64(sizeLength))) - 1
        guard unknown || value <= UInt64(Int.max / 2) else { return nil }
        return Header(id: id, size: unknown ? nil : Int(value), byteCount: idLength + sizeLength, sizeByteCount: sizeLength)
    }

    /// An unsigned integer element's value (big-endian, up to 8 bytes).
    static func unsignedValue(_ payload: ArraySlice<UInt8>) -> UInt64 {
        payload.suffix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }
}
