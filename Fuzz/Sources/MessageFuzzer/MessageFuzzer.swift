// libFuzzer's entry point: each input goes down every path DeltaTape reads untrusted bytes on, and the JSON
// scanner's verdict is compared with the reference validator's. Anything wrong traps, and libFuzzer keeps the input.
@_spi(Blocks) import DeltaTape
#if canImport(Glibc)
import Glibc
#endif

/// Called by libFuzzer once per input.
///
/// Checks, in order:
/// 1. `JSONScanner.scan` and `ReferenceJSONValidator` agree on the whole input: valid or not, the kind, and the
///    top-level members; `scanObject` agrees with `scan`; a syntax error's offset lies within the input.
/// 2. `EventReader.read` on the whole input and on each line: it fails exactly when the text is not a JSON object,
///    and every range an event hands out lies within the message.
/// 3. `PayloadDecoder.decode` on every audio delta those events carry.
/// 4. `LineReader`, `JSONArrayReader` and `HARReader` over a `MemoryByteSource`, with a small chunk and read size
///    chosen by the input: lines are exactly the input split at its line ends (`\n`, or a bare `\r` when the first line
///    end is one; the start's byte order mark dropped), the other readers always make progress under a message limit
///    also chosen by the input, and every message goes through steps 2 and 3.
/// 5. Problem reporting, as the command line gets it: `SessionInspector.inspect` and `SessionConverter.convert` (WAV to
///    `/dev/null`, lenient and `--strict`) on the input as a file. Every text they hand out (problems, event type names,
///    formats, notes, the error) holds no control character and no bidirectional override, and the problems listed stay
///    within the sampler's bounds.
/// - Returns: 0, as libFuzzer requires.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    compareScannerWithReference(bytes)

    var events = MessageChecker()
    bytes.withUnsafeBytes { whole in
        events.check(whole)
        var lineStart = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            events.check(UnsafeRawBufferPointer(rebasing: whole[lineStart..<index]))
            lineStart = index + 1
        }
        if lineStart > 0 { events.check(UnsafeRawBufferPointer(rebasing: whole[lineStart...])) }
    }

    readLines(bytes)
    readMessages(bytes, from: JSONArrayReader.self)
    readMessages(bytes, from: HARReader.self)
    checkProblemReporting(bytes)
    return 0
}

/// Traps with `message` when `condition` is false; unlike `precondition`, it keeps the message in optimized builds.
func require(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
    if !condition { fatalError(message(), file: file, line: line) }
}

// MARK: - 1. Scanner against reference

func compareScannerWithReference(_ bytes: [UInt8]) {
    let expected = ReferenceJSONValidator.validate(bytes)
    var scanner = JSONScanner()
    let scanned: ReferenceJSONValidator.Document? = bytes.withUnsafeBytes { text in
        do throws(JSONScanFailure) {
            let kind = try scanner.scan(text)
            let document = ReferenceJSONValidator.Document(
                kind: ReferenceJSONValidator.Kind(kind), members: scanner.members.map(ReferenceJSONValidator.Member.init))
            do throws(JSONScanFailure) {
                try scanner.scanObject(text)
                require(kind == .object, "scanObject accepted a \(kind)")
            } catch {
                require(error == .notAnObject(kind), "scanObject disagrees with scan: \(error)")
            }
            return document
        } catch {
            guard case .syntax(let syntaxError) = error else { fatalError("scan reported \(error)") }
            require((0...bytes.count).contains(syntaxError.offset), "error offset \(syntaxError.offset) outside \(bytes.count) bytes")
            return nil
        }
    }
    if scanned != expected {
        fatalError("scanner and reference disagree: scanner \(String(describing: scanned)), reference \(String(describing: expected))")
    }
}

// MARK: - 2, 3. Events and payloads

/// One session's event reader and payload decoder, checking each message it is given.
struct MessageChecker {
    private var reader = EventReader()
    private var decoder = PayloadDecoder()
    /// Touched by every decoded byte, so that the sanitizer sees each one read.
    private(set) var checksum: UInt8 = 0

    mutating func check(_ message: UnsafeRawBufferPointer) {
        let verdict = ReferenceJSONValidator.validate(Array(message))
        let event: Event
        do throws(EventReadError) {
            event = try reader.read(message)
        } catch {
            switch error {
            case .json(.syntax): require(verdict == nil, "event reader rejected valid JSON: \(error)")
            case .json(.notAnObject(let kind)):
                require(verdict?.kind == ReferenceJSONValidator.Kind(kind) && kind != .object, "event reader: \(error)")
            case .base64Event:
                // A valid object whose event_base64 is not base64 or holds no JSON object: refused, as it should be.
                require(verdict?.kind == .object, "event reader refused an event_base64 of what is not a JSON object: \(error)")
            }
            return
        }
        require(verdict?.kind == .object, "event reader accepted what is not a JSON object")
        if let type = event.typeRange {
            checkRange(type, in: message)
            _ = event.typeName
        }
        event.forEachAudioDelta { decode($0, in: message) }
    }

    private mutating func decode(_ delta: AudioDelta, in message: UnsafeRawBufferPointer) {
        checkRange(delta.payload, in: message)
        if let range = delta.responseID { checkRange(range, in: message) }
        if let range = delta.itemID { checkRange(range, in: message) }
        let sum = decoder.decode(delta, in: message) { result in
            if result.error == nil {
                require(result.bytes.count <= delta.payload.count, "more bytes decoded than base64 characters")
            }
            var sum: UInt8 = 0
            for byte in result.bytes { sum &+= byte }
            return sum
        }
        checksum &+= sum
    }

    private func checkRange(_ range: Range<Int>, in message: UnsafeRawBufferPointer) {
        require(range.lowerBound >= 0 && range.upperBound <= message.count, "range \(range) outside a \(message.count)-byte message")
    }
}

// MARK: - 4. Message readers

/// Chunk and read sizes chosen by the input, small, so that messages straddle chunk boundaries.
private func sizes(_ bytes: [UInt8]) -> (chunk: Int, read: Int) {
    guard let first = bytes.first, let last = bytes.last else { return (16, 1) }
    return (16 + Int(first % 48), 1 + Int(last % 64))
}

func readLines(_ bytes: [UInt8]) {
    // What the lines must be: the input split at every line end, without the empty piece after a final one, and
    // without a byte order mark at the very start. The first line end decides: a bare CR (no LF after it) makes CR the
    // line end, anything else LF.
    let firstEnd = bytes.firstIndex { $0 == 0x0A || $0 == 0x0D }
    let separator: UInt8 = firstEnd.map { bytes[$0] == 0x0D && bytes[($0 + 1)...].first != 0x0A } == true ? 0x0D : 0x0A
    var expected = bytes.split(separator: separator, omittingEmptySubsequences: false).map(Array.init)
    if expected.last == [] { expected.removeLast() }
    if let first = expected.first, first.starts(with: [0xEF, 0xBB, 0xBF]) { expected[0] = Array(first.dropFirst(3)) }

    let (chunk, read) = sizes(bytes)
    let lines = LineReader(source: MemoryByteSource(bytes, maximumReadSize: read), chunkSize: chunk)
    var events = MessageChecker()
    var count = 0
    do throws(InputError) {
        while let (number, line) = try lines.nextLine() {
            require(count < expected.count && number == count + 1 && line.elementsEqual(expected[count]),
                         "line \(number) differs from the input's split")
            events.check(line)
            count += 1
        }
    } catch {
        fatalError("memory source failed: \(error)")
    }
    require(count == expected.count, "\(count) lines read, \(expected.count) in the input")
}

/// The message sources that take a byte source and a chunk size.
protocol ChunkedMessageSource: MessageSource {
    init(source: MemoryByteSource, chunkSize: Int, prefix: [UInt8], maximumMessageByteCount: Int)
}

extension JSONArrayReader: ChunkedMessageSource where Source == MemoryByteSource {}
extension HARReader: ChunkedMessageSource where Source == MemoryByteSource {}

func readMessages<Reader: ChunkedMessageSource>(_ bytes: [UInt8], from reader: Reader.Type) {
    let (chunk, read) = sizes(bytes)
    // A limit the input chooses (often below its messages' length), so that the skipping path runs too.
    let limit = 16 + Int(bytes.count > 1 ? bytes[1] : 0) * 8
    let messages = Reader(source: MemoryByteSource(bytes, maximumReadSize: read), chunkSize: chunk, prefix: [], maximumMessageByteCount: limit)
    var events = MessageChecker()
    var count = 0
    do throws(InputError) {
        while let (_, message) = try messages.nextMessage() {
            count += 1
            // A reader that hands out more messages than there are bytes has stopped consuming input.
            require(count <= bytes.count + 1, "\(Reader.self) hands out messages without consuming input")
            require(message.count <= limit, "\(Reader.self) handed out \(message.count) bytes, over the limit of \(limit)")
            events.check(message)
        }
    } catch {
        fatalError("memory source failed: \(error)")
    }
}

// MARK: - 5. Problem reporting

/// The file each input is written to for the whole-session checks (one per fuzzing process).
private let sessionPath: String = {
    var template = Array("/tmp/deltatape-fuzz-XXXXXX".utf8CString)
    let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    require(descriptor >= 0, "mkstemp failed")
    close(descriptor)
    return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}()

/// Whether `text` may reach a terminal: no C0 or C1 control character, no DEL, no bidirectional override or isolate and
/// no line or paragraph separator (each could drive the terminal, forge a line or reorder what a person reads).
func isPrintable(_ text: String) -> Bool {
    !text.unicodeScalars.contains { scalar in
        switch scalar.value {
        case 0x00..<0x20, 0x7F..<0xA0, 0x200E, 0x200F, 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}

func checkProblemReporting(_ bytes: [UInt8]) {
    guard let file = fopen(sessionPath, "w") else { fatalError("cannot write \(sessionPath)") }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)

    if let report = try? SessionInspector.inspect(input: sessionPath, maximumMessageByteCount: 1_024) {
        let texts = report.problems.map(\.message) + Array(report.eventCounts.keys) + report.formats + report.diagnoses.map(\.message)
            + [report.wrapper, report.vocabularyName].compactMap { $0 }
        for text in texts { require(isPrintable(text), "inspect hands out raw control text: \(text.debugDescription)") }
        // Five examples of each of at most 64 kinds and one more kind for the rest, then one summary line each.
        require(report.problems.count <= 65 * 6, "inspect lists \(report.problems.count) problems")
        require(report.problemCount >= report.problems.count - 65, "inspect counts \(report.problemCount) problems and lists \(report.problems.count)")
    }
    for strict in [false, true] {
        var options = ConversionOptions(strict: strict)
        options.maximumMessageByteCount = 1_024
        var listed = 0
        do throws(ConversionError) {
            _ = try SessionConverter.convert(input: sessionPath, to: .file("/dev/null"), options: options) { problem in
                listed += 1
                require(isPrintable(problem.description), "convert reports raw control text: \(problem.description.debugDescription)")
            }
        } catch {
            require(isPrintable(error.description.escapingControlCharacters(limit: 4_000)), "an escaped error still holds control text")
        }
        require(listed <= 65 * 6 + 1, "convert listed \(listed) problems")
    }
}
