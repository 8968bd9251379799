// What `convert` does to fit a batch engine (issue 29, SPEC §11): inputs listed in a file or on standard input
// (`--inputs-from`), one shard of them by a stable hash (`--shard K/N`), and inputs whose outputs are there already left
// out (`--skip-existing`). The command line's own: the library converts one input at a time.
import ArgumentParser
import DeltaTape
import DeltaTapeStorage
import Glibc

/// The inputs `--inputs-from` lists: one a line, read to the end.
enum InputList {
    /// The inputs listed in `bytes`: one a line, a trailing CR dropped (lists written on Windows), blank lines (empty
    /// or spaces and tabs only) skipped, every other line taken as it is (no globbing, no trimming, no quoting). Split
    /// as bytes: to `String`, CR LF is one character, which a split at "\n" would not find.
    static func inputs(in bytes: [UInt8]) -> [String] {
        bytes.split(separator: 0x0A, omittingEmptySubsequences: true).compactMap { line in
            let line = line.last == 0x0D ? line.dropLast() : line
            return line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) ? nil : String(decoding: line, as: UTF8.self)
        }
    }

    /// Reads the list at `path` (`-`: standard input) to its end.
    ///
    /// - Throws: ``ConversionError/unreadableInput(_:)`` naming the list: it does not exist or cannot be read.
    static func read(_ path: String) throws(ConversionError) -> [String] {
        let descriptor = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw unreadable(path, "cannot open the list of inputs (--inputs-from)") }
        defer { if descriptor != 0 { close(descriptor) } }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count >= 0 else { throw unreadable(path, "cannot read the list of inputs (--inputs-from)") }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return inputs(in: bytes)
    }

    private static func unreadable(_ path: String, _ what: String) -> ConversionError {
        let code = errno
        return .unreadableInput(InputError(name: path == "-" ? "stdin" : path, reason: "\(what): \(String(cString: strerror(code)))", code: code))
    }
}

/// One of `count` shards of a batch (`--shard K/N`): the inputs whose FNV-1a 64-bit hash, over the UTF-8 bytes of
/// the input as given (an object's whole `s3://BUCKET/KEY` for a prefix's objects), is `index - 1` modulo `count`.
/// The same on every machine and in every run (unlike Swift's `Hasher`, seeded per process), so N workers given the
/// same inputs split them with none left out and none converted twice, and other tools can compute the split:
/// `h = 0xcbf29ce484222325; for each byte: h = ((h ^ byte) * 0x100000001b3) mod 2^64; shard = h mod N + 1`.
struct InputShard: Sendable, Equatable {
    /// 1...count.
    var index: Int
    var count: Int

    /// Reads `K/N`.
    ///
    /// - Throws: `ValidationError` saying what is wrong and what is expected.
    init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]) else {
            throw ValidationError("--shard \(text) is not K/N: give this worker's shard and the number of shards, "
                + "whole numbers with 1 <= K <= N, for example --shard 2/3.")
        }
        guard count >= 1, (1...count).contains(index) else {
            throw ValidationError("--shard \(text) names shard \(index) of \(count); K must be 1...N (here 1...\(max(count, 1))), "
                + "for example --shard 1/\(max(count, 1)).")
        }
        self.index = index
        self.count = count
    }

    /// FNV-1a, 64 bits, over `text`'s UTF-8 bytes.
    static func hash(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        return hash
    }

    /// Whether `input` falls in this shard.
    func holds(_ input: String) -> Bool {
        Int(Self.hash(input) % UInt64(count)) + 1 == index
    }

    var description: String { "\(index)/\(count)" }
}

/// `--skip-existing`: whether every output of an input stands complete under its final name already.
struct ExistingOutputs {
    var s3: S3Output?
    var intoFolder: Bool
    var format: OutputFormat
    var separate: Bool

    /// The outputs `input` makes at `destination`: one, or one per track of separate files; files, or `s3://` addresses.
    func names(of input: String, at destination: OutputDestination) -> [String] {
        if let s3 { return s3.addresses(for: input, intoPrefix: intoFolder, format: format, separate: separate).map(\.description) }
        return separate ? [AudioTrack.user, .assistant].compactMap { destination.destination(for: $0)?.name } : [destination.name]
    }

    /// Whether the output `name` is there: a regular, non-empty file; with `-o s3://…`, an object (HeadObject). A HEAD
    /// that fails for another reason than a missing object counts as absent (the conversion then says what is wrong).
    func isThere(_ name: String) -> Bool {
        if let s3 {
            guard let address = try? S3Address(parsing: name) else { return false }
            return (try? s3.client.headObject(address)) != nil
        }
        var status = stat()
        return stat(name, &status) == 0 && status.st_mode & S_IFMT == S_IFREG && status.st_size > 0
    }
}
