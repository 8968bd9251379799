import DeltaTapeStorage
import Foundation
import Testing
import TestSupport

/// The spool's manifest and part layout alone (no server): a manifest reads back as written, whatever its strings
/// hold; a damaged one is refused with a sentence naming it; the layout's parts tile the spool file as the sink cuts it.
struct S3SpoolManifestTests {
    @Test func aManifestReadsBackAsWritten() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let address = try S3Address(bucket: "recordings", key: "calls/2024 \"x\"\\yé.wav")
        let manifest = S3SpoolManifest(address: address, uploadID: "id/with+odd=chars", contentType: "audio/wav",
                                       layout: S3PartLayout(basePartByteCount: 6 << 20),
                                       parts: [S3UploadedPart(partNumber: 2, etag: "\"b\""), S3UploadedPart(partNumber: 1, etag: "\"a\"")],
                                       changedParts: [1])
        let path = folder.appendingPathComponent("x.manifest").path
        try manifest.write(to: path)
        #expect(try S3SpoolManifest.load(path: path) == manifest)
        #expect(manifest.parts.map(\.partNumber) == [1, 2])
        // Before the upload is begun: no upload id, no parts.
        let fresh = S3SpoolManifest(address: address, layout: S3PartLayout(basePartByteCount: 1))
        try fresh.write(to: path)
        let read = try S3SpoolManifest.load(path: path)
        #expect(read == fresh && read.uploadID == nil && read.layout.basePartByteCount == 5 << 20)
        #expect(!FileManager.default.fileExists(atPath: path + ".new"))
    }

    @Test func aDamagedManifestIsRefusedByName() throws {
        for text in ["", "{", "[]", "{\"bucket\":\"b\"}", "{\"bucket\":\"b\",\"key\":\"k\",\"partByteCount\":5242880,\"parts\":[{\"number\":0,\"etag\":\"e\"}]}"] {
            #expect(throws: S3RepairError.self) { try S3SpoolManifest.parse(Array(text.utf8), path: "/s/x.manifest") }
            do throws(S3RepairError) {
                _ = try S3SpoolManifest.parse(Array(text.utf8), path: "/s/x.manifest")
            } catch {
                #expect(error.description.hasPrefix("the spool entry /s/x.manifest cannot be used: it is not an upload's manifest"), "\(error)")
            }
        }
    }

    /// Parts of the base size while more follows, doubled after each 1,000, the last with the rest; none past 10,000.
    @Test func thePartsTileTheSpoolFile() {
        let layout = S3PartLayout(basePartByteCount: 5 << 20)
        #expect(layout.parts(forByteCount: 0).isEmpty)
        #expect(layout.parts(forByteCount: 1).map(\.byteCount) == [1])
        // Exactly one part's worth is one part: a part is cut only when bytes follow it.
        #expect(layout.parts(forByteCount: 5 << 20).map(\.byteCount) == [5 << 20])
        #expect(layout.parts(forByteCount: (5 << 20) + 1).map(\.byteCount) == [5 << 20, 1])
        #expect(layout.byteCount(ofPart: 1_000) == 5 << 20 && layout.byteCount(ofPart: 1_001) == 10 << 20)
        for byteCount in [3, 5 << 20, (17 << 20) + 5, 1_000 * (5 << 20) + 7] {
            let parts = layout.parts(forByteCount: byteCount)
            var offset = 0
            for (index, part) in parts.enumerated() {
                #expect(part.number == index + 1 && part.offset == offset)
                if index < parts.count - 1 { #expect(part.byteCount == layout.byteCount(ofPart: part.number)) }
                offset += part.byteCount
            }
            #expect(offset == byteCount)
        }
        // The 10,000th part holds the rest, however large.
        let huge = S3PartLayout(basePartByteCount: 5 << 20).parts(forByteCount: Int(1) << 50)
        #expect(huge.count == 10_000 && huge.last.map { $0.offset + $0.byteCount } == 1 << 50)
    }
}
