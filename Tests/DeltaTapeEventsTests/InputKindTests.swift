import DeltaTapeEvents
import Testing

@Suite struct InputKindTests {
    private func kind(_ text: String) -> InputKind? {
        Array(text.utf8).withUnsafeBytes { InputKind.detect($0) }
    }

    @Test func detectsKindsFromContent() {
        #expect(kind("{\"type\":\"session.created\"}\n{\"type\":\"x\"}\n") == .jsonLines)
        #expect(kind("\u{FEFF}\r\n  {\"type\":\"x\"}\r\n") == .jsonLines)
        #expect(kind("{\"type\": \"truncated\n{\"type\":\"ok\"}\n") == .jsonLines)
        #expect(kind("[{\"type\":\"x\"}]") == .jsonArray)
        #expect(kind("{\n  \"log\": {\n    \"version\": \"1.2\"") == .har)
        #expect(kind("{\"log\":{\"entries\":[]}}") == .har)
        #expect(kind("RIFF\u{0}\u{0}\u{0}\u{0}WAVEfmt ") == .audioFile)
        #expect(kind("fLaC") == .audioFile)
        #expect(kind("hello world\n") == nil)
        #expect(kind("# a log header line\n{\"type\":\"x\"}\n") == .jsonLines)
        #expect(kind("{not json\n{also not\n") == nil)
        #expect(kind("   \n\n") == nil)
    }
}
