// Reading the elements back with EBML's own header reader; what a finish writes (Duration, Cues, SeekHead) comes
// from WebMOpusWriter's own builders, so that a repaired file is the one the writer would have finished then.
import DeltaTapeCodecs

/// Repairs a WebM (Opus) file left by a killed ``WebMOpusWriter``.
///
/// On a file the writer reserves room for the SeekHead and Duration (Voids), gives the Segment an 8-byte size set at
/// finish, and writes each cluster whole with its size. A kill leaves whole clusters, perhaps a last one cut short,
/// and no Segment size, Duration, Cues or SeekHead. Repair keeps every whole cluster and the whole blocks of a cluster
/// cut short (each block decodes alone; its size is set to end at the last whole one), drops what follows, and writes
/// what finishing would have: Cues (one CuePoint per cluster), the Segment size, Duration (the last block's time plus
/// its packet's duration, less the codec delay) and the SeekHead. Only DiscardPadding on the last block cannot be
/// known (the input's exact length died with the process).
///
/// The live form (written to a pipe: unknown sizes, no room reserved) is finished as it is: a block cut short at the
/// end is dropped; Duration, Cues and SeekHead have no room and the live form has none (a remux gives them).
enum WebMRepair {
    private struct Block {
        var ticks: Int
        var samples48k: Int
        var discardPadding48k: Int
    }

    private struct Cluster {
        var offset: Int
        var sizeFieldOffset: Int
        var sizeByteCount: Int
        var declaredSize: Int?
        var timestampTicks: Int
        var end: Int
        var blockCount: Int
        var lastBlock: Block?
    }

    static func repair(path: String, dryRun: Bool) throws(RepairError) -> StreamRepairReport {
        try Repair.repair(path: path, dryRun: dryRun) { (file) throws(RepairError) in try plan(file, path: path) }
    }

    private static func refusal(_ path: String, _ reason: String) -> RepairError { .notRepairable(path: path, reason: reason) }

    private static func header(_ file: ReadOnlyFile, at offset: Int) throws(RepairError) -> EBML.Header? {
        EBML.header(in: try file.bytes(at: offset, count: 12)[...], at: 0)
    }

    /// The children of a master element's payload: ID, payload range (in `payload`'s indices), where each starts.
    private static func children(_ payload: [UInt8]) -> [(id: UInt32, start: Int, body: Range<Int>)] {
        var result: [(id: UInt32, start: Int, body: Range<Int>)] = []
        var at = 0
        while let child = EBML.header(in: payload[...], at: at), let size = child.size, at + child.byteCount + size <= payload.count {
            result.append((child.id, at, (at + child.byteCount)..<(at + child.byteCount + size)))
            at += child.byteCount + size
        }
        return result
    }

    private static func plan(_ file: ReadOnlyFile, path: String) throws(RepairError) -> (StreamRepairReport, [Repair.Step]) {
        let fileByteCount = file.byteCount
        // The EBML header and the Segment.
        guard let ebml = try header(file, at: 0), ebml.id == EBML.ID.ebml, let ebmlSize = ebml.size else {
            throw refusal(path, "its EBML header cannot be read (cut short after \(fileByteCount) bytes, or damaged)")
        }
        let ebmlPayload = try file.bytes(at: ebml.byteCount, count: ebmlSize)
        guard ebmlPayload.count == ebmlSize else {
            throw refusal(path, "the file ends inside its EBML header (\(fileByteCount) bytes): there is nothing to keep")
        }
        let docType = children(ebmlPayload).first { $0.id == EBML.ID.docType }.map { Array(ebmlPayload[$0.body]) }
        guard docType == Array("webm".utf8) || docType == Array("matroska".utf8) else {
            // The type comes from the file: shown printable and short (it reaches a terminal).
            let shown = docType.map { "'\(WAVRepair.printable($0.prefix(40)[...]))'" } ?? "unknown"
            throw refusal(path, "it is an EBML file of type \(shown), not WebM or Matroska")
        }
        let segmentOffset = ebml.byteCount + ebmlSize
        guard let segment = try header(file, at: segmentOffset), segment.id == EBML.ID.segment else {
            throw refusal(path, "no Segment follows its EBML header at byte \(segmentOffset): the file was cut short before any audio")
        }
        let segmentDataStart = segmentOffset + segment.byteCount
        let segmentEnd = segment.size.map { min(fileByteCount, segmentDataStart + $0) } ?? fileByteCount

        var reserve: (offset: Int, byteCount: Int)?  // SeekHead and Voids at the Segment's start
        var infoOffset: Int?, durationOffset: Int?, timestampScale: UInt64 = 1_000_000
        var tracksOffset: Int?, preSkip48k: Int?
        var clusters: [Cluster] = []
        var tail: (offset: Int, reason: String)?  // what is dropped, and why
        var cutCluster: String?
        var offset = segmentDataStart
        scan: while offset < segmentEnd {
            guard let element = try header(file, at: offset) else {
                tail = (offset, "are no whole EBML element (cut short or damaged)")
                break
            }
            let bodyStart = offset + element.byteCount
            if element.id == EBML.ID.cluster {
                guard infoOffset != nil, preSkip48k != nil else { throw refusal(path, "a Cluster comes before its Info and Opus Tracks at byte \(offset)") }
                let (cluster, cut) = try readCluster(file, at: offset, header: element, end: segmentEnd)
                if let cluster, cluster.blockCount > 0 { clusters.append(cluster) }
                if let cut {
                    cutCluster = cluster.map { kept in
                        "the last cluster (at byte \(offset), from \(formatSeconds(Double(kept.timestampTicks) / 2_000))) was cut short "
                            + "by the end of the file: its \(kept.blockCount) whole blocks kept (each decodes alone), its size set to end "
                            + "at the last of them, and \(cut)"
                    } ?? "the last cluster (at byte \(offset)) was cut short before its first whole block: dropped, and \(cut)"
                    tail = (cluster.map(\.end) ?? offset, "")
                    break
                }
                offset = cluster?.end ?? bodyStart
                continue
            }
            guard let size = element.size, bodyStart + size <= segmentEnd else {
                tail = (offset, "are an element cut short (ID \(String(element.id, radix: 16, uppercase: true)))")
                break
            }
            let end = bodyStart + size
            switch element.id {
            case let id where id == EBML.ID.void || (id == EBML.ID.seekHead && infoOffset == nil):
                if reserve == nil, offset == segmentDataStart { reserve = (offset, 0) }
                if let start = reserve?.offset, infoOffset == nil { reserve = (start, end - start) }
            case EBML.ID.info:
                infoOffset = offset
                let payload = try file.bytes(at: bodyStart, count: size)
                for child in children(payload) {
                    let total = child.body.upperBound - child.start
                    switch child.id {
                    case EBML.ID.timestampScale: timestampScale = EBML.unsignedValue(payload[child.body])
                    case let id where id == EBML.ID.duration || (id == EBML.ID.void && total == WebMOpusWriter.durationByteCount):
                        durationOffset = bodyStart + child.start
                    default: break
                    }
                }
            case EBML.ID.tracks:
                tracksOffset = offset
                let payload = try file.bytes(at: bodyStart, count: size)
                let entries = children(payload).filter { $0.id == EBML.ID.trackEntry }
                guard entries.count == 1, case let entry = Array(payload[entries[0].body]),
                      let codec = children(entry).first(where: { $0.id == EBML.ID.codecID }),
                      String(decoding: entry[codec.body], as: UTF8.self) == "A_OPUS",
                      let head = children(entry).first(where: { $0.id == EBML.ID.codecPrivate }), head.body.count >= 19 else {
                    throw refusal(path, "its Tracks are not one Opus track with its OpusHead (A_OPUS, CodecPrivate): repair knows only "
                        + "the files DeltaTape writes")
                }
                preSkip48k = Int(entry[head.body.lowerBound + 10]) | Int(entry[head.body.lowerBound + 11]) << 8
            case EBML.ID.cues, EBML.ID.void, EBML.ID.seekHead:
                // After the clusters: what a finish wrote, written again from the clusters.
                if !clusters.isEmpty { break scan }
            default:
                if !clusters.isEmpty {
                    throw refusal(path, "it holds an element (ID \(String(element.id, radix: 16, uppercase: true))) after its clusters at "
                        + "byte \(offset), which repair does not rewrite")
                }
            }
            offset = end
        }
        guard let last = clusters.last, let lastBlock = last.lastBlock, let preSkip48k, let infoOffset, let tracksOffset else {
            throw refusal(path, "it holds no whole block of audio (the process was stopped before its first cluster was written): "
                + "there is nothing to keep")
        }
        let audioEnd = last.end
        let decoded48k = max(0, lastBlock.ticks * WebMOpusWriter.samples48kPerTick + lastBlock.samples48k - preSkip48k - lastBlock.discardPadding48k)
        var findings: [String] = []
        var steps: [Repair.Step] = []
        if let cutCluster { findings.append(cutCluster) }
        if let tail, !tail.reason.isEmpty { findings.append("the last \(fileByteCount - tail.offset) bytes (from byte \(tail.offset)) \(tail.reason): dropped") }

        // The live form: no room for what a finish writes to a file, and a finished live form has none of it.
        guard let reserve, let durationOffset, segment.size == nil || segment.sizeByteCount == 8 else {
            // A cluster that says its size (not the live form's unknown one) and was cut short gets the size it holds:
            // left past the end, a second repair would find it cut short again.
            for cluster in clusters where cluster.declaredSize.map({ $0 != cluster.end - cluster.sizeFieldOffset - cluster.sizeByteCount }) == true
                && UInt64(cluster.end - cluster.sizeFieldOffset - cluster.sizeByteCount) < (UInt64(1) << (7 * cluster.sizeByteCount)) - 1 {
                steps.append(.write(field: "size of the cluster at byte \(cluster.offset)", offset: cluster.sizeFieldOffset,
                                    bytes: EBML.size(cluster.end - cluster.sizeFieldOffset - cluster.sizeByteCount, length: cluster.sizeByteCount)))
            }
            if audioEnd < fileByteCount {
                findings.append("the file is in the live form (unknown sizes, no room for Duration, Cues and SeekHead, as written to a "
                    + "pipe): finished as the writer finishes it, without them; `mkvmerge -o out.webm \(path)` remuxes it with them")
                steps.append(.truncate(byteCount: audioEnd))
            }
            return (StreamRepairReport(path: path, format: "WebM", keptSeconds: Double(decoded48k) / 48_000, keptByteCount: audioEnd,
                                       droppedByteCount: fileByteCount - audioEnd, findings: findings, changed: false), steps)
        }
        guard timestampScale == UInt64(WebMOpusWriter.tickNanoseconds) else {
            throw refusal(path, "its timestamp scale is \(timestampScale) ns, not the 500000 DeltaTape writes: repair finishes DeltaTape's "
                + "own files; `mkvmerge -o out.webm \(path)` remuxes others")
        }

        // What a finish writes, each compared with what the file holds.
        let cues = WebMOpusWriter.cues(clusters.map { ($0.timestampTicks, $0.offset) }, segmentDataStart: segmentDataStart)
        let newEnd = audioEnd + cues.count
        guard let seekHead = WebMOpusWriter.seekHead(infoOffset: infoOffset, tracksOffset: tracksOffset, cuesOffset: audioEnd,
                                                     segmentDataStart: segmentDataStart, reserve: reserve.byteCount) else {
            throw refusal(path, "the room at the Segment's start (\(reserve.byteCount) bytes) is too small for a SeekHead")
        }
        let segmentSizeByteCount = segment.size == nil ? 8 : segment.sizeByteCount
        let duration = WebMOpusWriter.duration(decodedFrameCount48k: decoded48k)
        func differs(_ bytes: [UInt8], at offset: Int) throws(RepairError) -> Bool { try file.bytes(at: offset, count: bytes.count) != bytes }

        let cuesDiffer = try differs(cues, at: audioEnd)
        if newEnd != fileByteCount || cuesDiffer {
            findings.append("no Cues after the last cluster (a finish writes them): \(clusters.count) cue points written, one per cluster")
            steps.append(.write(field: "Cues", offset: audioEnd, bytes: cues))
            if fileByteCount != newEnd { steps.append(.truncate(byteCount: newEnd)) }
        }
        var sized = 0
        for cluster in clusters where cluster.declaredSize != cluster.end - cluster.sizeFieldOffset - cluster.sizeByteCount {
            sized += 1
            steps.append(.write(field: "size of the cluster at byte \(cluster.offset)", offset: cluster.sizeFieldOffset,
                                bytes: EBML.size(cluster.end - cluster.sizeFieldOffset - cluster.sizeByteCount, length: cluster.sizeByteCount)))
        }
        if sized > 0 { findings.append("\(sized) cluster size\(sized == 1 ? "" : "s") unknown or past the end: set") }
        let segmentSize = EBML.size(newEnd - segmentDataStart, length: segmentSizeByteCount)
        if try differs(segmentSize, at: segmentDataStart - segmentSizeByteCount) {
            findings.append("the Segment's size was \(segment.size.map { "\($0) bytes" } ?? "unknown"); set to \(newEnd - segmentDataStart) bytes")
            steps.append(.write(field: "Segment size", offset: segmentDataStart - segmentSizeByteCount, bytes: segmentSize))
        }
        if try differs(duration, at: durationOffset) {
            findings.append("Duration was missing or wrong; set to \(formatSeconds(Double(decoded48k) / 48_000)) (the last block's end less the "
                + "codec delay)")
            steps.append(.write(field: "Duration", offset: durationOffset, bytes: duration))
        }
        if try differs(seekHead, at: reserve.offset) {
            findings.append("no SeekHead (a Void held its place): written, pointing at Info, Tracks and Cues")
            steps.append(.write(field: "SeekHead", offset: reserve.offset, bytes: seekHead))
        }
        return (StreamRepairReport(path: path, format: "WebM", keptSeconds: Double(decoded48k) / 48_000, keptByteCount: newEnd,
                                   droppedByteCount: max(0, fileByteCount - audioEnd - (newEnd == fileByteCount ? cues.count : 0)),
                                   findings: findings, changed: false), steps)
    }

    /// The cluster at `offset`: its whole blocks (`nil` when it has none, or not even its Timestamp), and, when the file
    /// ends inside it, what of it is dropped in words.
    private static func readCluster(_ file: ReadOnlyFile, at offset: Int, header: EBML.Header,
                                    end segmentEnd: Int) throws(RepairError) -> (Cluster?, cut: String?) {
        let bodyStart = offset + header.byteCount
        let declaredEnd = header.size.map { bodyStart + $0 }
        let limit = min(declaredEnd ?? segmentEnd, file.byteCount)
        var cluster = Cluster(offset: offset, sizeFieldOffset: bodyStart - header.sizeByteCount, sizeByteCount: header.sizeByteCount,
                              declaredSize: header.size, timestampTicks: -1, end: bodyStart, blockCount: 0, lastBlock: nil)
        var at = bodyStart
        var endedByNextElement = false
        while at < limit {
            guard let child = try Self.header(file, at: at) else { break }
            // An unknown-size cluster ends where the next top-level element starts (IDs of 4 bytes: Cluster, Cues, ...).
            if declaredEnd == nil, child.byteCount - child.sizeByteCount == 4 {
                endedByNextElement = true
                break
            }
            guard let size = child.size, at + child.byteCount + size <= limit else { break }
            let body = try file.bytes(at: at + child.byteCount, count: size)
            switch child.id {
            // Bounded (2^40 ticks of 0.5 ms: 17 years), so that the block times and durations made from it cannot
            // overflow (the repair fuzzer's 2^63 - 1 trapped adding a block's relative time).
            case EBML.ID.timestamp: cluster.timestampTicks = Int(min(EBML.unsignedValue(body[...]), 1 << 40))
            case EBML.ID.simpleBlock, EBML.ID.blockGroup:
                guard cluster.timestampTicks >= 0, let block = readBlock(body, group: child.id == EBML.ID.blockGroup, clusterTicks: cluster.timestampTicks)
                else { break }
                cluster.blockCount += 1
                cluster.lastBlock = block
            default: break
            }
            at += child.byteCount + size
            cluster.end = at
        }
        let cutShort = declaredEnd.map { cluster.end < $0 } ?? (cluster.end < limit && !endedByNextElement)
        guard cutShort else { return (cluster.blockCount > 0 ? cluster : nil, nil) }
        let dropped = file.byteCount - cluster.end
        return (cluster.blockCount > 0 ? cluster : nil, "the \(dropped) bytes after \(cluster.blockCount > 0 ? "them" : "its start") dropped")
    }

    /// A SimpleBlock's (or a BlockGroup's Block's) time, its packet's samples and its DiscardPadding.
    private static func readBlock(_ body: [UInt8], group: Bool, clusterTicks: Int) -> Block? {
        var block = body[...], padding48k = 0
        if group {
            let parts = children(body)
            guard let inner = parts.first(where: { $0.id == EBML.ID.block }) else { return nil }
            block = body[inner.body]
            if let discard = parts.first(where: { $0.id == EBML.ID.discardPadding }), !discard.body.isEmpty, discard.body.count <= 8 {
                var nanoseconds = Int64(Int8(bitPattern: body[discard.body.lowerBound]))
                for index in discard.body.dropFirst() { nanoseconds = nanoseconds << 8 | Int64(body[index]) }
                padding48k = Int((Double(nanoseconds) * 48_000 / 1e9).rounded())
            }
        }
        // Track number (a vint), int16 relative time, flags, then the packet.
        guard let first = block.first, first != 0 else { return nil }
        let trackLength = first.leadingZeroBitCount + 1
        let start = block.startIndex + trackLength
        guard block.count > trackLength + 3 else { return nil }
        let relative = Int(Int16(bitPattern: UInt16(block[start]) << 8 | UInt16(block[start + 1])))
        guard let samples = OpusPacket.sampleCount48k(ofPacket: block[(start + 3)...]) else { return nil }
        return Block(ticks: clusterTicks + relative, samples48k: samples, discardPadding48k: padding48k)
    }
}
