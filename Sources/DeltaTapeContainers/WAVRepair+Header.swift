// Reading the header: the plan of a repair, in steps (the RIFF header, the chunks up to the audio, the sizes
// declared, the audio held) and the fields each kind of file needs rewritten.

extension WAVRepair {
    private static let unknownSize: UInt32 = 0xFFFF_FFFF
    private static let ds64PayloadByteCount = 28

    /// Reads the header and works out which fields to rewrite.
    static func plan(_ file: ReadOnlyFile, path: String) throws(RepairError) -> Plan {
        let riff = try readRIFFHeader(file, path: path)
        let magic = String(decoding: riff.prefix(4), as: UTF8.self)
        let isRF64 = magic != "RIFF"
        let layout = try walkChunksToData(file, path: path)
        if isRF64, layout.ds64Offset == nil { throw refusal(path, "it is \(magic) but has no ds64 chunk before its data") }
        let declared = try readDeclaredSizes(file, riff: riff, layout: layout, isRF64: isRF64)
        let extent = try measureAudio(file, layout: layout, declaredDataByteCount: declared.data)

        var edits = Edits()
        var becomesRF64 = false
        if !isRF64, extent.riffSize >= UInt64(unknownSize) {
            guard let junkOffset = layout.junkOffset else {
                throw refusal(path, "its audio passes 4 GiB (\(extent.dataByteCount) bytes), more than a RIFF header can count, and it "
                    + "has no JUNK chunk first to turn into RF64's ds64")
            }
            becomesRF64 = true
            edits.convertToRF64(junkAt: junkOffset, layout: layout, extent: extent, declared: declared)
        } else if isRF64, let ds64Offset = layout.ds64Offset {
            edits.fixRF64Sizes(ds64At: ds64Offset, riff32: littleEndian32(riff, 4), layout: layout, extent: extent, declared: declared)
        } else {
            edits.fixRIFFSizes(layout: layout, extent: extent, declared: declared, fileByteCount: file.byteCount)
        }
        try edits.fixFactCount(file, layout: layout, extent: extent)
        if let trailer = extent.trailingChunks {
            edits.findings.append("the \(trailer.ids.joined(separator: ", ")) chunk\(trailer.ids.count == 1 ? "" : "s") from byte "
                + "\(trailer.offset) to the end follow\(trailer.ids.count == 1 ? "s" : "") the audio: kept, outside the data chunk")
        }
        if extent.partialFrameByteCount > 0 {
            edits.findings.append("the last \(extent.partialFrameByteCount) bytes are part of a frame (\(layout.format.blockAlign) bytes "
                + "each): left in the file, outside the data chunk")
        }
        let format = layout.format
        return Plan(path: path, container: becomesRF64 ? "RF64" : magic, sampleRate: format.sampleRate, channelCount: format.channelCount,
                    blockByteCount: format.blockAlign, bytesPerSecond: format.bytesPerSecond, dataOffset: layout.dataOffset,
                    dataByteCount: extent.dataByteCount, partialFrameByteCount: extent.partialFrameByteCount,
                    findings: edits.findings, changes: edits.changes)
    }

    /// The refusal of `path`, which is not a WAV repair can fix, for `reason`.
    private static func refusal(_ path: String, _ reason: String) -> RepairError {
        .notRepairable(path: path, reason: reason)
    }

    /// The first 12 bytes, `RIFF`/`RF64`/`BW64`, a size, `WAVE`; refused when they are not.
    private static func readRIFFHeader(_ file: ReadOnlyFile, path: String) throws(RepairError) -> [UInt8] {
        let fileByteCount = file.byteCount
        guard fileByteCount > 0 else { throw refusal(path, "the file is empty") }
        let riff = try file.bytes(at: 0, count: min(12, fileByteCount))
        let magic = String(decoding: riff.prefix(4), as: UTF8.self)
        guard ["RIFF", "RF64", "BW64"].contains(magic) else { throw refusal(path, "it is not a WAV file: " + describeStart(riff)) }
        guard riff.count == 12 else {
            throw refusal(path, "the file is \(fileByteCount) bytes long, too short for a WAV header (12 bytes at least)")
        }
        guard riff[8..<12].elementsEqual("WAVE".utf8) else { throw refusal(path, "it is not a WAV file: " + describeStart(riff)) }
        return riff
    }

    /// The fmt chunk's fields that repair uses.
    private struct FormatChunk {
        var tag: Int
        var channelCount: Int
        var sampleRate: Int
        var bytesPerSecond: Int
        var blockAlign: Int
    }

    /// Where the chunks up to the audio are.
    private struct ChunkLayout {
        var format: FormatChunk
        var ds64Offset: Int?
        /// A JUNK chunk first, large enough to become a ds64 chunk.
        var junkOffset: Int?
        var factOffset: Int?
        /// Where the audio starts.
        var dataOffset: Int
        /// The data chunk's 32-bit size field, as written.
        var dataSize32: UInt32

        /// Where the data chunk's 32-bit size field is.
        var dataSizeOffset: Int { dataOffset - 4 }
    }

    /// Walks the chunks up to data: ds64 (RF64), JUNK (room for ds64), fmt, fact.
    private static func walkChunksToData(_ file: ReadOnlyFile, path: String) throws(RepairError) -> ChunkLayout {
        let fileByteCount = file.byteCount
        var offset = 12
        var format: FormatChunk?
        var ds64Offset: Int?, junkOffset: Int?, factOffset: Int?
        while true {
            guard offset + 8 <= fileByteCount else {
                throw refusal(path, format == nil ? "it has no fmt chunk before the end of the file at byte \(fileByteCount)"
                    : "it has no data chunk: the chunks end at byte \(offset) of \(fileByteCount)")
            }
            let header = try file.bytes(at: offset, count: 8)
            let id = String(decoding: header[0..<4], as: UTF8.self)
            let size = Int(littleEndian32(header, 4))
            let body = offset + 8
            switch id {
            case "data":
                guard let format else { throw refusal(path, "its data chunk (at byte \(offset)) comes before any fmt chunk") }
                guard format.blockAlign > 0 else { throw refusal(path, "its fmt chunk gives 0 bytes per frame (block align)") }
                return ChunkLayout(format: format, ds64Offset: ds64Offset, junkOffset: junkOffset, factOffset: factOffset,
                                   dataOffset: body, dataSize32: UInt32(size))
            case "fmt ":
                guard size >= 16 else { throw refusal(path, "its fmt chunk is \(size) bytes, shorter than the 16 a WAV needs") }
                guard body + 16 <= fileByteCount else {
                    // A header cut short: the chunk's size is fine, the file ends before its fields (issue 27, item 8).
                    throw refusal(path, "the file is \(fileByteCount) bytes long and ends inside its fmt chunk (16 bytes of format "
                        + "from byte \(body)): it was cut off before its format and any audio were written, so there is nothing to keep")
                }
                let fields = try file.bytes(at: body, count: 16)
                format = FormatChunk(tag: Int(littleEndian16(fields, 0)), channelCount: Int(littleEndian16(fields, 2)),
                                     sampleRate: Int(littleEndian32(fields, 4)), bytesPerSecond: Int(littleEndian32(fields, 8)),
                                     blockAlign: Int(littleEndian16(fields, 12)))
            case "ds64":
                guard size >= ds64PayloadByteCount else { throw refusal(path, "its ds64 chunk is \(size) bytes, shorter than the 28 RF64 needs") }
                ds64Offset = body
            case "JUNK":
                if junkOffset == nil, offset == 12, size >= ds64PayloadByteCount { junkOffset = body }
            case "fact":
                if size >= 4 { factOffset = body }
            default:
                guard isPrintableChunkID(header[0..<4]) else {
                    throw refusal(path, "the bytes at \(offset) are not a chunk (no printable chunk ID) and no data chunk came before them")
                }
            }
            // Chunks are word-aligned: an odd size is followed by a pad byte.
            let next = body + size + (size & 1)
            guard next <= fileByteCount else {
                throw refusal(path, "its \(printable(header[0..<4])) chunk at byte \(offset) claims \(size) bytes, past the end of the "
                    + "file (\(fileByteCount) bytes), and no data chunk came before it")
            }
            offset = next
        }
    }

    /// The sizes the header declares.
    private struct DeclaredSizes {
        var riff: UInt64
        var data: UInt64
        /// The ds64 sample count (RF64 only).
        var frames: UInt64?
    }

    /// What the header says: the 32-bit RIFF and data sizes or, in RF64, the ds64 chunk's.
    private static func readDeclaredSizes(_ file: ReadOnlyFile, riff: [UInt8], layout: ChunkLayout,
                                          isRF64: Bool) throws(RepairError) -> DeclaredSizes {
        guard isRF64, let ds64Offset = layout.ds64Offset else {
            return DeclaredSizes(riff: UInt64(littleEndian32(riff, 4)), data: UInt64(layout.dataSize32), frames: nil)
        }
        // In RF64 the ds64 chunk holds the true sizes; the 32-bit fields say "see ds64" (or, below 4 GiB, may agree).
        let ds64 = try file.bytes(at: ds64Offset, count: ds64PayloadByteCount)
        return DeclaredSizes(riff: littleEndian64(ds64, 0), data: littleEndian64(ds64, 8), frames: littleEndian64(ds64, 16))
    }

    /// The audio the file holds, and the sizes that describe it.
    private struct AudioExtent {
        var dataByteCount: Int
        /// Bytes after the last whole frame, left outside the data chunk.
        var partialFrameByteCount: Int
        var riffSize: UInt64
        var frameCount: UInt64
        /// The audio in words, for the findings: `N bytes (S s of audio)`.
        var description: String
        /// Chunks found after the audio (a LIST written at the end) when the declared size could not say where it ends.
        var trailingChunks: (offset: Int, ids: [String])?
    }

    /// What the file holds: the declared data when it fits and what follows is chunks to the end; otherwise every
    /// whole block from the data's start to the end of the file.
    private static func measureAudio(_ file: ReadOnlyFile, layout: ChunkLayout,
                                     declaredDataByteCount declaredData: UInt64) throws(RepairError) -> AudioExtent {
        let fileByteCount = file.byteCount
        let available = fileByteCount - layout.dataOffset
        let format = layout.format
        let block = format.blockAlign
        var dataByteCount: Int, partial = 0, riffEnd: Int
        var trailingChunks: (offset: Int, ids: [String])?
        if declaredData <= UInt64(available), case let declared = Int(declaredData),
           try chunksReachEnd(file, from: layout.dataOffset + declared + (declared & 1), fileByteCount: fileByteCount) {
            dataByteCount = declared
            riffEnd = fileByteCount
        } else if let trailer = try findTrailingChunks(file, layout: layout) {
            // The declared size is no help (0xFFFFFFFF, 0, stale), but chunks after the audio reach the end: the audio
            // stops where they start (issue 27, item 8: a streaming header's LIST chunk was counted as audio).
            dataByteCount = trailer.offset - layout.dataOffset
            dataByteCount -= dataByteCount % block
            riffEnd = fileByteCount
            trailingChunks = trailer
        } else {
            dataByteCount = available / block * block
            partial = available - dataByteCount
            riffEnd = layout.dataOffset + dataByteCount + (dataByteCount & 1 == 1 && partial > 0 ? 1 : 0)
        }
        let frames = UInt64(dataByteCount / block)
        let seconds = format.bytesPerSecond > 0 ? Double(dataByteCount) / Double(format.bytesPerSecond)
            : Double(frames) / Double(max(1, format.sampleRate))
        return AudioExtent(dataByteCount: dataByteCount, partialFrameByteCount: partial, riffSize: UInt64(riffEnd - 8),
                           frameCount: frames, description: "\(dataByteCount) bytes (\(formatSeconds(seconds)) of audio)",
                           trailingChunks: trailingChunks)
    }

    /// The findings and the field changes of a plan, as its steps add them.
    private struct Edits {
        var findings: [String] = []
        var changes: [Change] = []

        mutating func set32(_ field: String, at offset: Int, to value: UInt32) {
            changes.append(Change(field: field, offset: offset, bytes: bytes(littleEndian: value)))
        }

        mutating func set64(_ field: String, at offset: Int, to value: UInt64) {
            changes.append(Change(field: field, offset: offset, bytes: bytes(littleEndian: value)))
        }

        /// A size as the findings give it: `0xFFFFFFFF` for the "unknown" marker.
        private func describe(_ value: UInt64) -> String { value == UInt64(unknownSize) ? "0xFFFFFFFF" : "\(value)" }

        /// RIFF past 4 GiB: the reserved JUNK chunk at `junkOffset` becomes ds64 and the file RF64.
        mutating func convertToRF64(junkAt junkOffset: Int, layout: ChunkLayout, extent: AudioExtent, declared: DeclaredSizes) {
            findings.append("the audio passes 4 GiB: RIFF becomes RF64 and the JUNK chunk at byte \(junkOffset - 8) its ds64 chunk")
            changes.append(Change(field: "RF64 marker", offset: 0, bytes: Array("RF64".utf8)))
            changes.append(Change(field: "ds64 chunk ID", offset: junkOffset - 8, bytes: Array("ds64".utf8)))
            changes.append(Change(field: "ds64 chunk size", offset: junkOffset - 4, bytes: bytes(littleEndian: UInt32(ds64PayloadByteCount))))
            set64("ds64 RIFF size", at: junkOffset, to: extent.riffSize)
            set64("ds64 data size", at: junkOffset + 8, to: UInt64(extent.dataByteCount))
            set64("ds64 sample count", at: junkOffset + 16, to: extent.frameCount)
            set32("ds64 table length", at: junkOffset + 24, to: 0)
            set32("RIFF size", at: 4, to: unknownSize)
            set32("data size", at: layout.dataSizeOffset, to: unknownSize)
            findings.append("data size was \(describe(declared.data)); set to \(extent.description)")
        }

        /// RF64: the ds64 sizes, and 32-bit fields that neither say "see ds64" nor agree.
        mutating func fixRF64Sizes(ds64At ds64Offset: Int, riff32: UInt32, layout: ChunkLayout, extent: AudioExtent,
                                   declared: DeclaredSizes) {
            let riffSize = extent.riffSize, dataByteCount = extent.dataByteCount, frames = extent.frameCount
            if declared.riff != riffSize {
                findings.append("ds64 RIFF size was \(describe(declared.riff)); set to \(riffSize) bytes")
                set64("ds64 RIFF size", at: ds64Offset, to: riffSize)
            }
            if declared.data != UInt64(dataByteCount) {
                findings.append("data size was \(describe(declared.data)); set to \(extent.description)")
                set64("ds64 data size", at: ds64Offset + 8, to: UInt64(dataByteCount))
            }
            if declared.frames != frames {
                findings.append("ds64 sample count was \(describe(declared.frames ?? 0)); set to \(frames)")
                set64("ds64 sample count", at: ds64Offset + 16, to: frames)
            }
            // In RF64 the 32-bit fields say "see ds64"; a true value below 4 GiB is allowed too.
            if UInt64(riff32) != riffSize, riff32 != unknownSize {
                findings.append("the 32-bit RIFF size was \(riff32); set to 0xFFFFFFFF (see ds64)")
                set32("RIFF size", at: 4, to: unknownSize)
            }
            let data32 = layout.dataSize32
            if UInt64(data32) != UInt64(dataByteCount), data32 != unknownSize {
                findings.append("the 32-bit data size was \(data32); set to 0xFFFFFFFF (see ds64)")
                set32("data size", at: layout.dataSizeOffset, to: unknownSize)
            }
        }

        /// RIFF under 4 GiB: the RIFF and data sizes.
        mutating func fixRIFFSizes(layout: ChunkLayout, extent: AudioExtent, declared: DeclaredSizes, fileByteCount: Int) {
            if declared.riff != extent.riffSize {
                findings.append("RIFF size was \(describe(declared.riff)); set to \(extent.riffSize) bytes")
                set32("RIFF size", at: 4, to: UInt32(extent.riffSize))
            }
            if declared.data != UInt64(extent.dataByteCount) {
                let available = fileByteCount - layout.dataOffset
                let relation = declared.data == 0 || declared.data == UInt64(unknownSize) ? ""
                    : declared.data > UInt64(available) ? ", more than the \(available) bytes the file holds after the header"
                    : ", less than the \(available) bytes the file holds after the header"
                findings.append("data size was \(describe(declared.data))\(relation); set to \(extent.description)")
                set32("data size", at: layout.dataSizeOffset, to: UInt32(extent.dataByteCount))
            }
        }

        /// A compressed format's fact chunk: its sample count (capped at the 32-bit marker).
        mutating func fixFactCount(_ file: ReadOnlyFile, layout: ChunkLayout, extent: AudioExtent) throws(RepairError) {
            guard let factOffset = layout.factOffset, layout.format.tag != 1 else { return }
            let fact = UInt64(littleEndian32(try file.bytes(at: factOffset, count: 4), 0))
            let wanted = extent.frameCount < UInt64(unknownSize) ? extent.frameCount : UInt64(unknownSize)
            if fact != wanted {
                findings.append("fact sample count was \(describe(fact)); set to \(describe(wanted))")
                set32("fact sample count", at: factOffset, to: UInt32(wanted))
            }
        }
    }

    /// The chunks the bytes after the audio hold up to the end of the file, when the header cannot say where the audio
    /// ends: the first place in the file's last 256 KiB, a whole number of frames (and a pad byte) after the audio's
    /// start, where a chunk that WAV writers put after the audio (`LIST`, `id3 `, `cue `, ...) starts a chain of
    /// whole chunks ending exactly at the end of the file. Audio that happened to hold such a chain (an ID, then sizes
    /// adding up to the end to the byte) is not told apart; nothing else is taken for it.
    private static func findTrailingChunks(_ file: ReadOnlyFile, layout: ChunkLayout) throws(RepairError) -> (offset: Int, ids: [String])? {
        let trailerIDs: Set<String> = ["LIST", "id3 ", "ID3 ", "cue ", "smpl", "inst", "bext", "iXML", "axml", "PAD ", "JUNK", "_PMX"]
        let fileByteCount = file.byteCount, block = layout.format.blockAlign
        let windowStart = max(layout.dataOffset, fileByteCount - 256 * 1024)
        let window = try file.bytes(at: windowStart, count: fileByteCount - windowStart)
        var offset = windowStart
        while offset + 8 <= fileByteCount {
            let audio = offset - layout.dataOffset
            let aligned = audio % block == 0 || (audio % block == 1 && (audio - 1) & 1 == 1)
            if aligned, trailerIDs.contains(String(decoding: window[(offset - windowStart)..<(offset - windowStart + 4)], as: UTF8.self)),
               try chunksReachEnd(file, from: offset, fileByteCount: fileByteCount) {
                var ids: [String] = [], at = offset
                while at + 8 <= fileByteCount, ids.count < 8 {
                    let header = try file.bytes(at: at, count: 8)
                    ids.append(printable(header[0..<4]))
                    let size = Int(littleEndian32(header, 4))
                    at += 8 + size + (size & 1)
                }
                return (offset - (audio % block), ids)
            }
            offset += 1
        }
        return nil
    }

    /// Whether the bytes from `offset` to the end of the file are whole chunks with printable IDs (or nothing).
    private static func chunksReachEnd(_ file: ReadOnlyFile, from start: Int, fileByteCount: Int) throws(RepairError) -> Bool {
        var offset = start
        // A lone pad byte after an odd-sized data chunk written without one is fine too.
        if offset == fileByteCount || offset == fileByteCount + 1 { return true }
        while offset + 8 <= fileByteCount {
            let header = try file.bytes(at: offset, count: 8)
            guard isPrintableChunkID(header[0..<4]) else { return false }
            let size = Int(littleEndian32(header, 4))
            offset += 8 + size + (size & 1)
            if offset == fileByteCount || offset == fileByteCount + 1 { return true }
        }
        return false
    }

    /// A four-byte ID as text, bytes outside printable ASCII as `?`.
    static func printable(_ id: ArraySlice<UInt8>) -> String {
        String(decoding: id.map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }

    private static func isPrintableChunkID(_ id: ArraySlice<UInt8>) -> Bool {
        id.allSatisfy { (0x20...0x7E).contains($0) }
    }

    /// Says what a file that is not a WAV starts with, for the refusal.
    static func describeStart(_ bytes: [UInt8]) -> String {
        if bytes.starts(with: Array("OggS".utf8)) { return "it is an Ogg file (it starts with OggS)" }
        if bytes.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return "it is a Matroska or WebM file (it starts with an EBML header)" }
        if bytes.starts(with: Array("fLaC".utf8)) { return "it is a FLAC file" }
        if bytes.starts(with: Array("ID3".utf8)) || bytes.starts(with: [0xFF]) && bytes.count > 1 && bytes[1] & 0xE0 == 0xE0 { return "it is an MP3 file" }
        if let first = bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }), first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            return "it looks like JSON text (a session log?), not audio"
        }
        if bytes.starts(with: Array("RIFF".utf8)) {
            return "it is a RIFF file of another kind (\(printable(bytes[8..<12])), not WAVE)"
        }
        let hex = bytes.prefix(4).map { String($0, radix: 16, uppercase: true) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined(separator: " ")
        return "it starts with the bytes \(hex), not RIFF, RF64 or BW64 followed by WAVE"
    }
}

private func littleEndian16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
    UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
}

private func littleEndian32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
}

private func littleEndian64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
    (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[at + $1]) << (8 * $1) }
}

private func bytes<Value: FixedWidthInteger>(littleEndian value: Value) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}
