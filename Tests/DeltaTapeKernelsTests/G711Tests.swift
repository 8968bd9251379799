@_spi(Blocks) import DeltaTapeKernels
import Foundation
import TestSupport
import Testing

/// G.711 expansion against values of the published tables (ITU-T G.711 Tables 1 and 2, as 16-bit linear values
/// in the common "Sun g711.c" scaling).
@Suite struct G711Tests {
    @Test func mulawKnownValues() {
        #expect(G711.linear(mulaw: 0x00) == -32124)
        #expect(G711.linear(mulaw: 0x80) == 32124)
        #expect(G711.linear(mulaw: 0xFF) == 0)
        #expect(G711.linear(mulaw: 0x7F) == 0)
        #expect(G711.linear(mulaw: 0xF0) == 120)
        #expect(G711.linear(mulaw: 0x70) == -120)
        #expect(G711.linear(mulaw: 0x8F) == 16764)
    }

    /// All 256 codes of each law against Python's `audioop` (an independent C implementation of G.711).
    @Test func fullTablesMatchPythonsAudioop() throws {
        let script = """
            import audioop, warnings
            warnings.simplefilter("ignore")
            codes = bytes(range(256))
            for convert in (audioop.ulaw2lin, audioop.alaw2lin):
                linear = convert(codes, 2)
                print(" ".join(str(int.from_bytes(linear[i:i+2], "little", signed=True)) for i in range(0, 512, 2)))
            """
        let lines = String(decoding: try python(script), as: UTF8.self).split(separator: "\n")
        try #require(lines.count == 2)
        let mulaw = lines[0].split(separator: " ").map { Int16($0)! }
        let alaw = lines[1].split(separator: " ").map { Int16($0)! }
        for code in 0...255 {
            #expect(G711.linear(mulaw: UInt8(code)) == mulaw[code], "mu-law \(code)")
            #expect(G711.linear(alaw: UInt8(code)) == alaw[code], "A-law \(code)")
        }
    }

    @Test func alawKnownValues() {
        #expect(G711.linear(alaw: 0xD5) == 8)
        #expect(G711.linear(alaw: 0x55) == -8)
        #expect(G711.linear(alaw: 0xAA) == 32256)
        #expect(G711.linear(alaw: 0x2A) == -32256)
        #expect(G711.linear(alaw: 0x80) == 5504)
        #expect(G711.linear(alaw: 0x00) == -5504)
    }

    @Test func bothLawsAreOddSymmetric() {
        for byte in UInt8(0)...0x7F {
            #expect(G711.linear(mulaw: byte) == -G711.linear(mulaw: byte | 0x80))
            #expect(G711.linear(alaw: byte) == -G711.linear(alaw: byte | 0x80))
        }
    }
}
