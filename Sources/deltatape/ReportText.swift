import DeltaTape

/// The human-readable form of an inspection report.
enum ReportText {
    static func render(_ report: SessionReport) -> String {
        var lines: [String] = []
        lines.append("\(report.input): \(counted(report.messageCount, "message")) on \(counted(report.lineCount, "line"))")
        if let wrapper = report.wrapper { lines.append("wrapper: \(wrapper)") }
        lines.append("vocabulary: \(report.vocabularyName ?? "not recognized")")
        var assistant = "assistant audio: " + describe(report.assistant, messages: "delta")
        if let responses = report.responseCount, let items = report.itemCount {
            assistant += "; \(counted(responses, "response")), \(counted(items, "item"))"
        }
        lines.append(assistant)
        lines.append("user audio: " + describe(report.user, messages: "message"))
        if let connections = report.webSocketConnectionCount {
            lines.append("WebSocket connections: \(connections), frames without a JSON message: \(report.nonMessageFrameCount ?? 0)")
        }
        let cutOffs = [report.truncationCount > 0 ? counted(report.truncationCount, "truncation") : nil,
                       report.interruptionCount > 0 ? counted(report.interruptionCount, "interruption") : nil,
                       report.deltasAfterDone > 0 ? counted(report.deltasAfterDone, "delta") + " after .done" : nil].compactMap { $0 }
        if !cutOffs.isEmpty { lines.append("cut-offs: " + cutOffs.joined(separator: ", ")) }
        lines.append(contentsOf: describe(report.timeline))
        lines.append("events:")
        let width = report.eventCounts.values.map { String($0).count }.max() ?? 1
        for (type, count) in report.eventCounts.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            let number = String(count)
            lines.append("  " + String(repeating: " ", count: width - number.count) + number + "  " + type)
        }
        if !report.problems.isEmpty {
            lines.append("problems:")
            for problem in report.problems { lines.append("  line \(problem.line): \(problem.message)") }
        }
        if !report.diagnoses.isEmpty {
            lines.append("notes:")
            for note in report.diagnoses { lines.append("  - \(note.message)") }
        }
        return lines.joined(separator: "\n")
    }

    /// `9.493 s in 83 deltas, PCM16 24000 Hz mono`, or `none`.
    private static func describe(_ track: SessionReport.TrackReport, messages noun: String) -> String {
        guard track.deltaCount > 0 else { return "none" }
        let seconds = (track.durationSeconds * 1000).rounded() / 1000
        return "\(seconds) s in \(counted(track.deltaCount, noun)), " + track.formats.map(\.description).joined(separator: ", then ")
    }

    /// The timeline in a few lines: the rule, where the tracks end, what was cut.
    private static func describe(_ timeline: SessionReport.TimelineReport) -> [String] {
        var lines = ["timeline: \(timeline.placement)" + (timeline.usedMessageTimes ? " (message times refine it)" : "")]
        var tracks = "  assistant ends at \(timeline.assistantEndSeconds) s (\(counted(timeline.assistantItems, "item"))"
            + (timeline.assistantSource.map { ", from \($0)" } ?? "") + "), user at \(timeline.userEndSeconds) s"
        if timeline.userTurns > 1 { tracks += " (\(counted(timeline.userTurns, "turn")))" }
        if let source = timeline.userSource { tracks += " (from \(source))" }
        lines.append(tracks)
        var cuts: [String] = []
        if timeline.cutItems > 0 { cuts.append("\(counted(timeline.cutItems, "item")) cut (\(timeline.cutSeconds) s not heard)") }
        if timeline.droppedItems > 0 || timeline.droppedSeconds > 0 {
            cuts.append("\(counted(timeline.droppedItems, "item")) dropped (\(timeline.droppedSeconds) s)")
        }
        if timeline.interruptionsWithoutEffect > 0 { cuts.append("\(counted(timeline.interruptionsWithoutEffect, "interruption")) cut nothing") }
        if timeline.overlapSeconds > 0 {
            // What the figure counts, in the line itself: it is the server's word (its voice detection), not a measurement
            // of the audio, and a speech_started that no speech_stopped follows counts on to the end of the session.
            cuts.append("\(timeline.overlapSeconds) s of assistant audio played while the server's voice detection heard the user "
                + "speaking (from each speech_started to its speech_stopped, or to the end without one)")
        }
        if timeline.otherSourceMessages > 0 { cuts.append("\(counted(timeline.otherSourceMessages, "audio message")) of the other vocabulary left out") }
        if !cuts.isEmpty { lines.append("  " + cuts.joined(separator: "; ")) }
        return lines
    }

    /// `1 delta`, `2 deltas`.
    private static func counted(_ count: Int, _ noun: String) -> String {
        "\(count) \(noun)\(count == 1 ? "" : "s")"
    }
}
