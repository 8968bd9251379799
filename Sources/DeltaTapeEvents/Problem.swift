/// A problem found in an input that did not stop the work: a warning, or under `strict` the reason to stop.
public struct Problem: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The input's name (its path, or `stdin`).
    public var input: String
    /// The 1-based line of the input the problem is on.
    public var line: Int
    /// What is wrong, in words.
    public var message: String

    /// Creates a problem report. Both texts are made printable (control characters escaped, long ones cut): they
    /// carry text from the input, and reach terminals and logs.
    package init(input: String, line: Int, message: String) {
        self.input = input.escapingControlCharacters(limit: 500)
        self.line = line
        self.message = message.escapingControlCharacters(limit: 1_000)
    }

    /// `input:line: message`, the form compilers use, so editors and terminals can jump to it.
    public var description: String { "\(input):\(line): \(message)" }
}
