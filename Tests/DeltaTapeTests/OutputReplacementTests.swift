import DeltaTape
import Foundation
import TestSupport
import Testing

/// Writing over a file that is already there (a conversion run again): the file is replaced by a new one, or written
/// through where the path is a link. Whatever was there, the path ends up holding exactly what a conversion into a
/// new path writes, and what users set on the file (its permissions, its links) stays as it was.
@Suite struct OutputReplacementTests {
    /// The bytes a conversion of `session` writes to a path where nothing was.
    private func freshBytes(_ session: String, format: OutputFormat, in folder: URL) throws -> Data {
        let fresh = folder.appendingPathComponent("fresh.\(format.rawValue)")
        _ = try SessionConverter.convert(input: GeneratedSessions.log(session), to: .file(fresh.path), options: options(format))
        return try Data(contentsOf: fresh)
    }

    private func options(_ format: OutputFormat) -> ConversionOptions {
        var options = ConversionOptions(format: format)
        options.streamIdentifier = 7  // Ogg serial numbers and WebM UIDs are random otherwise
        return options
    }

    private func mode(_ path: String) -> mode_t {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mode : 0
    }

    @Test(arguments: [OutputFormat.wav, .webm])
    func aLargerFileIsReplacedWithItsPermissionsKept(format: OutputFormat) throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let expected = try freshBytes("ga-basic", format: format, in: folder)
        let output = folder.appendingPathComponent("out.\(format.rawValue)").path
        // Longer than the conversion's output, so any byte of it left behind would show.
        try Data(repeating: 0xAB, count: expected.count * 3 + 4_096).write(to: URL(fileURLWithPath: output))
        #expect(chmod(output, 0o666) == 0)  // wider than the umask lets a new file be
        _ = try SessionConverter.convert(input: GeneratedSessions.log("ga-basic"), to: .file(output), options: options(format))
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == expected)
        #expect(mode(output) & 0o7777 == 0o666)
        #expect(mode(output) & S_IFMT == S_IFREG)
    }

    @Test func aSymbolicLinkIsWrittenThroughAndStaysALink() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let expected = try freshBytes("ga-basic", format: .wav, in: folder)
        let target = folder.appendingPathComponent("target.wav").path
        let link = folder.appendingPathComponent("link.wav").path
        try Data(repeating: 0xCD, count: expected.count * 2).write(to: URL(fileURLWithPath: target))
        #expect(symlink(target, link) == 0)
        _ = try SessionConverter.convert(input: GeneratedSessions.log("ga-basic"), to: .file(link), options: options(.wav))
        #expect(mode(link) & S_IFMT == S_IFLNK, "the link must stay a link")
        #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == expected)
    }

    @Test func bothNamesOfAHardLinkedFileSeeTheNewContent() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let expected = try freshBytes("ga-basic", format: .wav, in: folder)
        let first = folder.appendingPathComponent("first.wav").path
        let second = folder.appendingPathComponent("second.wav").path
        try Data(repeating: 0xEF, count: expected.count * 2).write(to: URL(fileURLWithPath: first))
        #expect(link(first, second) == 0)
        _ = try SessionConverter.convert(input: GeneratedSessions.log("ga-basic"), to: .file(second), options: options(.wav))
        #expect(try Data(contentsOf: URL(fileURLWithPath: first)) == expected)
        #expect(try Data(contentsOf: URL(fileURLWithPath: second)) == expected)
    }

    @Test func aSecondWriterOfAReplacedFileIsRefusedAndDestroysNothing() throws {
        let folder = try TestEnvironment.temporaryDirectory()
        let output = folder.appendingPathComponent("out.wav").path
        try Data(repeating: 0x11, count: 100_000).write(to: URL(fileURLWithPath: output))
        // The first writer replaces the file and holds the new one's lock while it is open.
        let first = try FileDescriptorSink(path: output)
        try first.write([1, 2, 3])
        #expect(throws: OutputError.self) { _ = try FileDescriptorSink(path: output) }
        try first.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: output)) == Data([1, 2, 3]))
    }
}
