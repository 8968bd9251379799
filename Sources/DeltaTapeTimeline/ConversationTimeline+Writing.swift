// Writing to the sink: audio and silence on one track, each track's position on the clock kept as it goes.
@_spi(Blocks) import DeltaTapeEvents

extension ConversationTimeline {
    func pad(_ track: AudioTrack, to seconds: Double, rate: Int) throws(Sink.Failure) {
        guard rate > 0 else { return }
        let frames = self[track].frames(until: seconds, rate: rate)
        guard frames > 0 else { return }
        self[track].advance(frames, rate: rate)
        if selection == .both { try sink.writeSilence(frameCount: frames, rate: rate, track: track) }
    }

    func write(_ samples: UnsafeBufferPointer<Int16>?, frameCount: Int, rate: Int, track: AudioTrack) throws(Sink.Failure) {
        guard frameCount > 0 else { return }
        self[track].advance(frameCount, rate: rate)
        guard selection.includes(track) else { return }
        if let samples {
            try sink.write(samples, rate: rate, track: track)
        } else {
            try sink.writeSilence(frameCount: frameCount, rate: rate, track: track)
        }
    }

    subscript(track: AudioTrack) -> PlacedTrack {
        get { track == .assistant ? assistantTrack : userTrack }
        set { if track == .assistant { assistantTrack = newValue } else { userTrack = newValue } }
    }

    func noteOverlap(start: Double, seconds: Double) {
        guard seconds > 0, !speech.isEmpty else { return }
        let end = start + seconds
        for span in speech {
            let overlap = min(end, span.end ?? end) - max(start, span.start)
            if overlap > 0 { statistics.overlapSeconds += overlap }
        }
        // Spans that ended before this item are done with.
        speech.removeAll { $0.end.map { $0 < start } ?? false }
    }
}
