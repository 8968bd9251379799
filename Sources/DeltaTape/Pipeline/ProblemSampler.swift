/// Keeps the first few problems of each kind and counts the rest, so that a log with millions of bad lines gives a
/// readable report and flat memory: `5 000 000 malformed lines` reads as five examples and "and 4 999 995 more".
struct ProblemSampler {
    /// Problems of one kind reported in full before the rest are only counted.
    static let examplesPerKind = 5
    /// Kinds told apart; past this many, new kinds share one count (their messages come from the input).
    static let maximumKindCount = 64

    private struct Tally {
        var count = 0
        var lastLine = 0
        var example: String
    }
    private var tallies: [String: Tally] = [:]
    private var order: [String] = []

    /// Counts `problem`; returns whether it is one of its kind's first examples, to be reported in full.
    mutating func admit(_ problem: Problem) -> Bool {
        var kind = Self.kind(of: problem.message)
        if tallies[kind] == nil, tallies.count >= Self.maximumKindCount { kind = "(other problems)" }
        if tallies[kind] == nil { order.append(kind) }
        var tally = tallies[kind, default: Tally(example: problem.message)]
        tally.count += 1
        tally.lastLine = problem.line
        tallies[kind] = tally
        return tally.count <= Self.examplesPerKind
    }

    /// For each kind with problems left unreported: how many, and the line of the last one.
    func omissions(input: String) -> [Problem] {
        order.compactMap { kind in
            guard let tally = tallies[kind], tally.count > Self.examplesPerKind else { return nil }
            let more = tally.count - Self.examplesPerKind
            return Problem(input: input, line: tally.lastLine, message:
                "and \(more) more problem\(more == 1 ? "" : "s") like \"\(tally.example.prefix(80))\" (up to this line; not listed one by one)")
        }
    }

    /// What makes two messages the same kind: their words before the first colon or parenthesis, numbers left out.
    static func kind(of message: String) -> String {
        let head = message.prefix { $0 != ":" && $0 != "(" && $0 != "'" }
        return String(head.filter { !$0.isNumber }.prefix(60))
    }
}

extension Dictionary where Key == String, Value == Int {
    /// Counts one more `name`, keeping at most `limit` names: past that, new names share one count under `overflow`.
    /// For names that come from the input (message types), which a hostile log can make millions of.
    mutating func tally(_ name: String, limit: Int, overflow: String) {
        self[self[name] != nil || count < limit ? name : overflow, default: 0] += 1
    }
}
