// Reading pages by hand (their header is 27 bytes and a lacing table) and checking them with libogg's own CRC
// (`ogg_page_checksum_set`): libogg's sync layer skips what it cannot read, and repair must say where and why.
import COgg

/// Repairs an Ogg Opus file left by a killed process (RFC 7845 over RFC 3533).
///
/// ``OggOpusWriter`` writes whole pages, at least one a second, so a kill leaves whole pages, perhaps a last one cut
/// short, and no end-of-stream page. Repair keeps every whole page with a valid CRC from the start, drops the rest (a
/// page cut short, bytes that are no page, pages of another stream, anything after an end-of-stream page), drops
/// pages at the end that only continue a packet without ending it, and marks the last page kept as the end of the
/// stream, its CRC recomputed. Its granule position stays: it counts exactly the audio of the packets on the pages
/// kept. A file whose headers (OpusHead, OpusTags) are not whole, or that holds no audio page after them, is refused.
enum OggOpusRepair {
    private static let endOfStream: UInt8 = 0x04
    private static let beginningOfStream: UInt8 = 0x02

    /// One whole page.
    private struct Page {
        var offset: Int
        var byteCount: Int
        var headerType: UInt8
        var granule: Int64
        var sequence: UInt32
        /// Whether a packet ends on it (a lacing value below 255).
        var endsPacket: Bool
        /// The page's bytes (the header types and CRC are rewritten from them).
        var bytes: [UInt8]
        var headerByteCount: Int
        var end: Int { offset + byteCount }
    }

    static func repair(path: String, dryRun: Bool) throws(RepairError) -> StreamRepairReport {
        try Repair.repair(path: path, dryRun: dryRun) { (file) throws(RepairError) in try plan(file, path: path) }
    }

    /// Reads the pages and works out what to cut and which page to mark.
    private static func plan(_ file: ReadOnlyFile, path: String) throws(RepairError) -> (StreamRepairReport, [Repair.Step]) {
        var pages: [Page] = []
        var tail: String?  // why reading stopped before the end of the file
        var offset = 0
        while offset < file.byteCount {
            if let previous = pages.last, previous.headerType & endOfStream != 0 {
                tail = "come after the end-of-stream page"
                break
            }
            switch try readPage(file, at: offset) {
            case .page(let page):
                if let first = pages.first, page.bytes[14..<18] != first.bytes[14..<18] {
                    tail = "are a page of another stream (serial number \(littleEndian32(page.bytes, 14)), the first page's "
                        + "\(littleEndian32(first.bytes, 14)))"
                } else if page.sequence != UInt32(pages.count) {
                    tail = "start with page \(page.sequence) where page \(pages.count) was due (a page missing)"
                } else {
                    pages.append(page)
                    offset = page.end
                    continue
                }
            case .cutShort(let what): tail = what
            }
            break
        }
        let dropped = file.byteCount - offset
        let where_ = "the last \(dropped) bytes (from byte \(offset))"

        // The headers: OpusHead alone on the first page, then OpusTags, ending on a page of its own.
        guard let head = pages.first else {
            throw refusal(path, "it starts with no whole Ogg page: \(where_) \(tail ?? "are no page"), so there is nothing to keep")
        }
        let headBody = Array(head.bytes[head.headerByteCount...])
        guard head.headerType & beginningOfStream != 0, headBody.count >= 19, headBody.starts(with: Array("OpusHead".utf8)) else {
            throw refusal(path, "its first page holds no OpusHead: it is an Ogg file but not Ogg Opus (RFC 7845)")
        }
        let preSkip48k = Int(headBody[10]) | Int(headBody[11]) << 8
        guard pages.count > 1, pages[1].bytes[pages[1].headerByteCount...].starts(with: Array("OpusTags".utf8)),
              let tagsEnd = pages.indices.dropFirst().first(where: { pages[$0].endsPacket }) else {
            throw refusal(path, "its OpusTags header is not whole (\(tail.map { "\(where_) \($0)" } ?? "the file ends inside it")): "
                + "the process was stopped before any audio was written, so there is nothing to keep")
        }
        guard let last = pages.indices.dropFirst(tagsEnd + 1).last(where: { pages[$0].endsPacket }) else {
            throw refusal(path, "only its header pages are whole (OpusHead and OpusTags, \(pages[tagsEnd].end) bytes): it holds no "
                + "audio to keep")
        }

        var findings: [String] = []
        var steps: [Repair.Step] = []
        let kept = pages[last]
        if let tail { findings.append("\(where_) \(tail): dropped") }
        if last < pages.count - 1 {
            let continuing = pages.count - 1 - last
            findings.append("\(continuing) page\(continuing == 1 ? "" : "s") from byte \(kept.end) only continue\(continuing == 1 ? "s" : "") a "
                + "packet that never ends: dropped")
        }
        if kept.end < file.byteCount { steps.append(.truncate(byteCount: kept.end)) }
        if kept.headerType & endOfStream == 0 {
            findings.append("the last page kept (page \(kept.sequence), at byte \(kept.offset), granule position \(kept.granule)) "
                + "was not marked as the end of the stream: marked, its checksum recomputed")
            var marked = kept.bytes
            marked[5] |= endOfStream
            setChecksum(&marked, headerByteCount: kept.headerByteCount)
            steps.append(.write(field: "page's end-of-stream flag and checksum", offset: kept.offset + 5, bytes: Array(marked[5..<26])))
        }
        let seconds = Double(max(0, Int(kept.granule) - preSkip48k)) / 48_000
        let report = StreamRepairReport(path: path, format: "Ogg Opus", keptSeconds: seconds, keptByteCount: kept.end,
                                        droppedByteCount: file.byteCount - kept.end, findings: findings, changed: false)
        return (report, steps)
    }

    private enum PageRead {
        case page(Page)
        /// Why the bytes at the offset are not a whole page, as the end of a sentence about them.
        case cutShort(String)
    }

    /// The page at `offset`, whole and with a valid CRC, or why it is not one.
    private static func readPage(_ file: ReadOnlyFile, at offset: Int) throws(RepairError) -> PageRead {
        let header = try file.bytes(at: offset, count: 27)
        guard header.count == 27 || !header.starts(with: Array("OggS".utf8.prefix(header.count))) else {
            return .cutShort("are a page header cut short")
        }
        guard header.starts(with: Array("OggS".utf8)), header[4] == 0 else { return .cutShort("are not an Ogg page (no OggS there)") }
        let segmentCount = Int(header[26])
        let lacing = try file.bytes(at: offset + 27, count: segmentCount)
        guard lacing.count == segmentCount else { return .cutShort("are a page cut short (in its lacing table)") }
        let headerByteCount = 27 + segmentCount
        let bodyByteCount = lacing.reduce(0) { $0 + Int($1) }
        let bytes = try file.bytes(at: offset, count: headerByteCount + bodyByteCount)
        guard bytes.count == headerByteCount + bodyByteCount else {
            return .cutShort("are a page cut short (\(bytes.count) of its \(headerByteCount + bodyByteCount) bytes)")
        }
        var checked = bytes
        setChecksum(&checked, headerByteCount: headerByteCount)
        guard checked[22..<26] == bytes[22..<26] else { return .cutShort("are a page whose checksum does not match (torn or damaged)") }
        let granule = Int64(bitPattern: (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[6 + $1]) << (8 * $1) })
        return .page(Page(offset: offset, byteCount: bytes.count, headerType: bytes[5], granule: granule,
                          sequence: littleEndian32(bytes, 18), endsPacket: lacing.contains { $0 < 255 }, bytes: bytes,
                          headerByteCount: headerByteCount))
    }

    /// Sets a page's CRC (RFC 3533 §6) with libogg's own routine, the one ``OggOpusWriter``'s pages get.
    private static func setChecksum(_ bytes: inout [UInt8], headerByteCount: Int) {
        bytes.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            var page = ogg_page(header: base, header_len: headerByteCount, body: base + headerByteCount, body_len: buffer.count - headerByteCount)
            ogg_page_checksum_set(&page)
        }
    }

    private static func refusal(_ path: String, _ reason: String) -> RepairError { .notRepairable(path: path, reason: reason) }

    private static func littleEndian32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
    }
}
