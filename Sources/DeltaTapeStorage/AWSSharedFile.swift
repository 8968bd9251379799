#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One of the AWS shared files, `~/.aws/credentials` or `~/.aws/config`: INI sections of `name = value` lines, the way
/// the AWS CLI reads them. `#` and `;` start comment lines; an indented line continues the setting above it (the
/// nested `s3 =` block of the config file), which is not read here.
package struct AWSSharedFile: Sendable {
    /// Each section's settings, by the section's name as written between the brackets (`default`, `profile work`).
    package private(set) var sections: [String: [String: String]] = [:]

    /// Reads `text`.
    package init(text: String) {
        var section: String?
        for rawLine in text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            if let first = rawLine.first, first == " " || first == "\t" { continue }  // a nested block's line
            let line = rawLine.trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard let end = line.firstIndex(of: "]") else { section = nil; continue }
                let name = line[line.index(after: line.startIndex)..<end].trimmingSpaces
                section = String(name)
                if sections[String(name)] == nil { sections[String(name)] = [:] }
                continue
            }
            guard let section, let equals = line.firstIndex(of: "=") else { continue }
            let name = line[..<equals].trimmingSpaces.lowercased()
            let value = line[line.index(after: equals)...].trimmingSpaces
            sections[section, default: [:]][name] = String(value)
        }
    }

    /// Reads the file at `path`; `nil` when there is none or it cannot be read (AWS tools skip a missing file too).
    package init?(path: String) {
        guard let bytes = readSmallFile(path) else { return nil }
        self.init(text: String(decoding: bytes, as: UTF8.self))
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}

/// The bytes of a regular file of at most 1 MiB (a shared file is a few lines); `nil` for anything else.
private func readSmallFile(_ path: String) -> [UInt8]? {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16_384)
    while bytes.count <= 1 << 20 {
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        guard count >= 0 else { return nil }
        if count == 0 { return bytes }
        bytes += chunk[..<count]
    }
    return nil
}
