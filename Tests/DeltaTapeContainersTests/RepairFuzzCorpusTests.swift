@_spi(Blocks) import DeltaTapeContainers
import Foundation
import Testing
import TestSupport

/// The repair fuzzer's checks (Fuzz/Sources/RepairFuzzer) on its seeds and the inputs it found, in the ordinary test
/// run: a dry run changes nothing and agrees with the repair; a repaired file needs no second repair and is not
/// changed by one; a refusal leaves the file as it was; every message names the file and holds no control character.
@Suite struct RepairFuzzCorpusTests {
    static let inputs: [String] = ["Fuzz/RepairSeeds", "Fuzz/RepairRegressions"].flatMap { folder in
        let url = TestEnvironment.packageRoot.appendingPathComponent(folder)
        return ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted().map { "\(folder)/\($0)" }
    }

    @Test func theCorpusIsThere() {
        #expect(Self.inputs.count >= 20, "\(Self.inputs)")
    }

    @Test(arguments: inputs)
    func repairIsIdempotentAndSaysWhatItDid(_ input: String) throws {
        let original = try Data(contentsOf: TestEnvironment.packageRoot.appendingPathComponent(input))
        let path = try TestEnvironment.temporaryDirectory().appendingPathComponent("input").path
        try original.write(to: URL(fileURLWithPath: path))
        func bytes() throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }
        func checkText(_ text: String) {
            #expect(text.contains(path), "\(text)")
            #expect(!text.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F }, "\(text)")
        }
        let dry = Result { () throws(RepairError) in try Repair.repair(path: path, dryRun: true) }
        #expect(try bytes() == original, "a dry run changed the file")
        let repaired = Result { () throws(RepairError) in try Repair.repair(path: path, dryRun: false) }
        switch (dry, repaired) {
        case (.success(let wouldBe), .success(let report)):
            #expect(wouldBe.neededRepair == report.neededRepair)
            checkText(report.description)
            let after = try bytes()
            let again = try Repair.repair(path: path, dryRun: false)
            #expect(!again.neededRepair, "a repaired file needed repair again: \(again)")
            #expect(try bytes() == after, "a second repair changed the file")
        case (.failure(let wouldBe), .failure(let error)):
            #expect("\(wouldBe)" == "\(error)")
            checkText("\(error)")
            #expect(try bytes() == original, "a refused repair changed the file")
        default:
            Issue.record("the dry run and the repair disagree: \(dry) / \(repaired)")
        }
    }
}
