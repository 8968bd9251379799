// What no installed tool verifies in a WebM file (containers.md §6.2): CodecDelay against OpusHead's pre-skip,
// SamplingFrequency, block timestamps (monotonic, int16 range), SeekHead and Cues offsets. A small EBML reader
// written for the tests, apart from the writer's code.
import Foundation

/// What the checker read from a WebM file.
public struct WebMReport: Sendable {
    public var docType = ""
    public var codecID = ""
    public var codecDelayNanoseconds: UInt64?
    public var seekPreRollNanoseconds: UInt64?
    public var samplingFrequency: Double?
    public var channels: UInt64?
    public var opusHeadPreSkip: Int?
    public var opusHeadInputRate: Int?
    /// TimestampScale: nanoseconds per tick (1 000 000 when the file leaves it out).
    public var timestampScaleNanoseconds: UInt64 = 1_000_000
    /// Duration, in ticks.
    public var durationTicks: Double?
    /// Absolute block timestamps in ticks, in file order.
    public var blockTimestamps: [Int] = []
    /// Relative (int16) block timestamps as stored, in ticks.
    public var relativeTimestamps: [Int] = []
    /// Cluster timestamps in ticks.
    public var clusterTimestamps: [Int] = []
    /// CueTime values, in ticks.
    public var cueTimes: [Int] = []
    public var keyframeFlags: [Bool] = []
    public var discardPaddingNanoseconds: Int64?
    public var segmentSizeKnown = false
    public var clusterSizesKnown: [Bool] = []
    /// SeekHead entries: element ID → whether the position points at that ID.
    public var seekEntriesValid: [UInt32: Bool] = [:]
    /// Cue cluster positions that point at a Cluster.
    public var cuesPointAtClusters: [Bool] = []

    /// Duration in milliseconds, through the timestamp scale.
    public var durationMilliseconds: Double? {
        durationTicks.map { $0 * Double(timestampScaleNanoseconds) / 1_000_000 }
    }
}

public enum WebMChecker {
    static let masters: Set<UInt32> = [0x1A45_DFA3, 0x1853_8067, 0x114D_9B74, 0x4DBB, 0x1549_A966, 0x1654_AE6B, 0xAE, 0xE1, 0x1F43_B675,
                                       0xA0, 0x1C53_BB6B, 0xBB, 0xB7]

    public static func read(_ path: String) throws -> WebMReport {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var report = WebMReport()
        var segmentStart = 0
        var seeks: [(id: UInt32, position: Int)] = []
        var cuePositions: [Int] = []
        var currentCluster = 0
        var pendingSeekID: UInt32 = 0

        func vint(_ offset: Int, keepMarker: Bool) -> (value: UInt64, length: Int, unknown: Bool)? {
            guard offset < bytes.count, bytes[offset] != 0 else { return nil }
            let length = bytes[offset].leadingZeroBitCount + 1
            guard offset + length <= bytes.count else { return nil }
            var value = UInt64(keepMarker ? bytes[offset] : bytes[offset] & (0xFF >> length))
            for index in 1..<length { value = value << 8 | UInt64(bytes[offset + index]) }
            let allOnes = (UInt64(1) << (7 * UInt64(length))) - 1
            return (value, length, !keepMarker && value == allOnes)
        }

        func unsigned(_ range: Range<Int>) -> UInt64 { bytes[range].reduce(0) { $0 << 8 | UInt64($1) } }

        func parse(_ start: Int, _ end: Int, parentIsCluster: Bool) throws {
            var offset = start
            while offset < end {
                guard let (id, idLength, _) = vint(offset, keepMarker: true),
                      let (size, sizeLength, unknown) = vint(offset + idLength, keepMarker: false)
                else { throw TestSupportError("bad EBML at byte \(offset)") }
                let elementID = UInt32(id)
                // In the live form an unknown-size Cluster ends where the next Cluster (or Cues) begins.
                if parentIsCluster, elementID == 0x1F43_B675 || elementID == 0x1C53_BB6B { return }
                let dataStart = offset + idLength + sizeLength
                var dataEnd = unknown ? end : min(end, dataStart + Int(size))
                switch elementID {
                case 0x1853_8067: segmentStart = dataStart; report.segmentSizeKnown = !unknown
                case 0x1F43_B675: report.clusterSizesKnown.append(!unknown)
                default: break
                }
                if Self.masters.contains(elementID) {
                    if elementID == 0x1F43_B675 && unknown {
                        // Find where this cluster's children stop.
                        var probe = dataStart
                        while probe < end, let (childID, childIDLength, _) = vint(probe, keepMarker: true),
                              let (childSize, childSizeLength, _) = vint(probe + childIDLength, keepMarker: false),
                              childID != 0x1F43_B675, childID != 0x1C53_BB6B {
                            probe += childIDLength + childSizeLength + Int(childSize)
                        }
                        dataEnd = min(probe, end)
                    }
                    try parse(dataStart, dataEnd, parentIsCluster: elementID == 0x1F43_B675)
                } else {
                    let payload = dataStart..<dataEnd
                    switch elementID {
                    case 0x4282: report.docType = String(decoding: bytes[payload], as: UTF8.self)
                    case 0x86: report.codecID = String(decoding: bytes[payload], as: UTF8.self)
                    case 0x2AD7B1: report.timestampScaleNanoseconds = unsigned(payload)
                    case 0xB3: report.cueTimes.append(Int(unsigned(payload)))
                    case 0x56AA: report.codecDelayNanoseconds = unsigned(payload)
                    case 0x56BB: report.seekPreRollNanoseconds = unsigned(payload)
                    case 0x9F: report.channels = unsigned(payload)
                    case 0xB5, 0x4489:
                        let value = payload.count == 4 ? Double(Float(bitPattern: UInt32(unsigned(payload)))) : Double(bitPattern: unsigned(payload))
                        if elementID == 0xB5 { report.samplingFrequency = value } else { report.durationTicks = value }
                    case 0x63A2:
                        let head = Array(bytes[payload])
                        if head.count >= 19, head.starts(with: Array("OpusHead".utf8)) {
                            report.opusHeadPreSkip = Int(head[10]) | Int(head[11]) << 8
                            report.opusHeadInputRate = Int(head[12]) | Int(head[13]) << 8 | Int(head[14]) << 16 | Int(head[15]) << 24
                        }
                    case 0xE7:
                        currentCluster = Int(unsigned(payload))
                        report.clusterTimestamps.append(currentCluster)
                    case 0xA3, 0xA1:
                        let relative = Int(Int16(bitPattern: UInt16(bytes[dataStart + 1]) << 8 | UInt16(bytes[dataStart + 2])))
                        report.relativeTimestamps.append(relative)
                        report.blockTimestamps.append(currentCluster + relative)
                        report.keyframeFlags.append(elementID == 0xA1 || bytes[dataStart + 3] & 0x80 != 0)
                    case 0x75A2:
                        var value = Int64(Int8(bitPattern: bytes[dataStart]))
                        for index in (dataStart + 1)..<dataEnd { value = value << 8 | Int64(bytes[index]) }
                        report.discardPaddingNanoseconds = value
                    case 0x53AB: pendingSeekID = UInt32(unsigned(payload))
                    case 0x53AC: seeks.append((pendingSeekID, Int(unsigned(payload))))
                    case 0xF1: cuePositions.append(Int(unsigned(payload)))
                    default: break
                    }
                }
                offset = dataEnd
            }
        }
        try parse(0, bytes.count, parentIsCluster: false)
        func idAt(_ offset: Int) -> UInt32? { vint(offset, keepMarker: true).map { UInt32($0.value) } }
        for seek in seeks { report.seekEntriesValid[seek.id] = idAt(segmentStart + seek.position) == seek.id }
        report.cuesPointAtClusters = cuePositions.map { idAt(segmentStart + $0) == 0x1F43_B675 }
        return report
    }
}
