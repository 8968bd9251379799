@_spi(Blocks) import DeltaTapeKernels
import Foundation
import TestSupport
import Testing

/// Base64 against Foundation's encoder and decoder (an independent implementation of RFC 4648).
@Suite struct Base64Tests {
    private func decode(_ text: String) throws -> [UInt8] {
        try decode(Array(text.utf8))
    }

    private func decode(_ input: [UInt8]) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: Base64.maximumDecodedByteCount(encodedByteCount: input.count))
        let count = try input.withUnsafeBytes { source in
            try output.withUnsafeMutableBytes { destination in
                try Base64.decode(source, into: destination)
            }
        }
        return Array(output[..<count])
    }

    private func decodeError(_ text: String) -> Base64.DecodingError? {
        do {
            _ = try decode(text)
            return nil
        } catch let error as Base64.DecodingError {
            return error
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func decodesWhatFoundationEncodesAtEveryLength() throws {
        var generator = SeededGenerator()
        for length in 0...600 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Data(bytes).base64EncodedString()
            #expect(try decode(text) == bytes, "length \(length), \(generator)")
        }
    }

    @Test func encodesAsFoundationDoesAtEveryLength() {
        var generator = SeededGenerator()
        for length in 0...600 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString(), "length \(length), \(generator)")
        }
    }

    @Test func rfc4648TestVectors() throws {
        // RFC 4648 §10.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(try decode(encoded) == Array(plain.utf8))
        }
    }

    @Test func reportsTheOffsetOfEveryInvalidCharacter() {
        let valid = Data((0..<96).map { UInt8($0) }).base64EncodedString()  // 128 characters, no padding
        for offset in 0..<valid.utf8.count {
            for bad in ["!", "-", "_", " ", "\u{7F}"] {
                var characters = Array(valid)
                characters[offset] = Character(bad)
                let error = decodeError(String(characters))
                #expect(error == Base64.DecodingError(.invalidCharacter(Array(bad.utf8)[0]), at: offset), "'\(bad)' at \(offset)")
            }
        }
    }

    @Test func paddingRules() {
        #expect(decodeError("Zg=") == Base64.DecodingError(.invalidLength, at: 3))
        #expect(decodeError("Zg") == Base64.DecodingError(.invalidLength, at: 2))
        #expect(decodeError("GlOh=") == Base64.DecodingError(.invalidLength, at: 5))
        #expect(decodeError("Z===") == Base64.DecodingError(.misplacedPadding, at: 1))
        #expect(decodeError("====") == Base64.DecodingError(.misplacedPadding, at: 0))
        #expect(decodeError("Zg=A") == Base64.DecodingError(.misplacedPadding, at: 2))
        #expect(decodeError("Zg==Zm9v") == Base64.DecodingError(.misplacedPadding, at: 2))
        #expect(decodeError("Zm9vYg==") == nil)
    }

    @Test func nominalLengthOfAPayloadIsItsDecodedLength() {
        for length in 0...64 {
            let text = Data(repeating: 7, count: length).base64EncodedString()
            let padding = text.reversed().prefix { $0 == "=" }.count
            #expect(Base64.nominalDecodedByteCount(encodedByteCount: text.utf8.count, paddingCount: padding) == length)
        }
    }

    /// What Python's strict decoder (`binascii.a2b_base64(strict_mode=True)`) makes of each input: its bytes, or nil
    /// when it refuses. Inputs and answers travel as hex, so any byte (a newline too) can be in an input.
    private func pythonStrictDecode(_ inputs: [[UInt8]]) throws -> [[UInt8]?] {
        let script = """
            import sys, binascii
            for line in sys.stdin.read().split("\\n"):
                try: print(binascii.a2b_base64(bytes.fromhex(line), strict_mode=True).hex())
                except Exception: print("-")
            """
        let digits = Array("0123456789abcdef".utf8)
        var hexLines: [UInt8] = []
        for (index, input) in inputs.enumerated() {
            if index > 0 { hexLines.append(UInt8(ascii: "\n")) }
            for byte in input { hexLines += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        }
        let answers = String(decoding: try python(script, input: Data(hexLines)), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        guard answers.count >= inputs.count else { throw TestSupportError("python answered \(answers.count) of \(inputs.count) inputs") }
        return answers.prefix(inputs.count).map { $0 == "-" ? nil : hexBytes($0) }
    }

    /// Checks `inputs` against Python's strict decoder.
    ///
    /// Python accepts surplus padding after a whole quantum ("GlOh="), which RFC 4648 does not; so Python is the
    /// oracle for inputs whose length is a multiple of four, and every other length must be rejected.
    private func checkAgainstPython(_ inputs: [[UInt8]], _ generator: SeededGenerator) throws {
        for (input, theirs) in zip(inputs, try pythonStrictDecode(inputs)) {
            let ours = try? decode(input)
            #expect(ours == (input.count % 4 == 0 ? theirs : nil), "\(input), \(generator)")
        }
    }

    /// Random text, near-valid and not, against Python's strict decoder.
    @Test func agreesWithPythonsStrictDecoderOnRandomText() throws {
        var generator = SeededGenerator()
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".utf8)
        let texts: [[UInt8]] = (0..<20_000).map { round in
            (0..<Int.random(in: 0...40, using: &generator)).map { _ in
                round % 4 == 0 ? UInt8.random(in: 0x21...0x7E, using: &generator) : alphabet.randomElement(using: &generator)!
            }
        }
        try checkAgainstPython(texts, generator)
    }

    /// Arbitrary bytes (any value, any length up to 24) never crash the decoder, and it answers as Python does.
    @Test func randomBytesAreDecodedOrRefusedAsPythonDoes() throws {
        var generator = SeededGenerator()
        let inputs: [[UInt8]] = (0..<100_000).map { _ in
            (0..<Int.random(in: 0...24, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        try checkAgainstPython(inputs, generator)
    }

    private func hexBytes(_ hex: Substring) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
