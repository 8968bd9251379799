// libFuzzer's entry point for `deltatape repair`: each input is a file of any bytes (seeded with real WAV, Ogg Opus
// and WebM recordings, cut), repaired in place as a user's killed recording would be. Anything wrong traps, and
// libFuzzer keeps the input.
@_spi(Blocks) import DeltaTape
#if canImport(Glibc)
import Glibc
#endif

/// Where this process writes its input: tmpfs, so that each run's writes and fsync cost little.
let folder: String = {
    let path = "/dev/shm/deltatape-repair-fuzz.\(getpid())"
    mkdir(path, 0o700)
    return path
}()

/// Called by libFuzzer once per input.
///
/// Checks, in order:
/// 1. A dry run never changes the file, and says the same as the repair that follows it about whether one was needed.
/// 2. The repair returns a report or a `RepairError`, never traps (no `try!`, precondition or index past the end
///    reachable from a file's bytes), and every message it gives is printable text naming the file.
/// 3. A repaired file is finished: repairing it again finds nothing to fix and changes no byte.
/// - Returns: 0, as libFuzzer requires.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let path = folder + "/input"
    write(bytes, to: path)
    defer { unlink(path) }

    let dry = Result { () throws(RepairError) in try Repair.repair(path: path, dryRun: true) }
    require(read(path) == bytes, "a dry run changed the file")
    let repaired = Result { () throws(RepairError) in try Repair.repair(path: path, dryRun: false) }
    switch (dry, repaired) {
    case (.success(let wouldBe), .success(let report)):
        require(wouldBe.neededRepair == report.neededRepair, "the dry run and the repair disagree on whether one was needed")
        require(report.changed == report.neededRepair || !report.neededRepair, "a needed repair left the file unchanged")
        checkText(report.description, path: path)
        let after = read(path)
        switch Result(catching: { () throws(RepairError) in try Repair.repair(path: path, dryRun: false) }) {
        case .success(let again):
            require(!again.neededRepair, "a repaired file needed repair again: \(again)")
            require(read(path) == after, "a second repair changed the file")
        case .failure(let error):
            fatalError("a repaired file was refused: \(error)")
        }
    case (.failure(let wouldBe), .failure(let error)):
        require("\(wouldBe)" == "\(error)", "the dry run and the repair failed differently: \(wouldBe) / \(error)")
        checkText("\(error)", path: path)
        require(read(path) == bytes, "a refused repair changed the file")
    default:
        fatalError("the dry run and the repair disagree: \(dry) / \(repaired)")
    }
    return 0
}

/// Traps with `message` when `condition` is false; unlike `precondition`, it keeps the message in optimized builds.
func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}

/// A message names the file and holds no control character but line ends (it reaches a terminal).
func checkText(_ text: String, path: String) {
    require(text.contains(path), "a message does not name the file: \(text)")
    for scalar in text.unicodeScalars where scalar.value < 0x20 && scalar != "\n" || scalar.value == 0x7F {
        fatalError("a control character (U+\(String(scalar.value, radix: 16))) in: \(text)")
    }
}

func write(_ bytes: [UInt8], to path: String) {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    require(descriptor >= 0, "cannot write \(path)")
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, bytes.count - offset) }
        require(written > 0, "cannot write \(path)")
        offset += written
    }
    close(descriptor)
}

func read(_ path: String) -> [UInt8] {
    let descriptor = open(path, O_RDONLY)
    require(descriptor >= 0, "cannot read \(path)")
    defer { close(descriptor) }
    var result: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
        require(count >= 0, "cannot read \(path)")
        if count == 0 { return result }
        result += chunk[..<count]
    }
}
