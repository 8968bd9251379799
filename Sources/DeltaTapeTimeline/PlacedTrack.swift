/// One track's position on the session clock as it is written: frames at the current rate since the last rate change.
///
/// Positions are kept in frames, not seconds, so that a session at one rate places every sample exactly; a rate change
/// (a G.711 response among PCM16 ones) starts a new segment at the time the previous one ended.
struct PlacedTrack {
    /// Where the current segment starts, in seconds.
    private(set) var segmentStartSeconds = 0.0
    /// The current segment's rate; 0 before anything was placed.
    private(set) var rate = 0
    /// Frames placed in the current segment.
    private(set) var segmentFrames = 0

    /// Where the track ends, in seconds.
    var endSeconds: Double {
        rate == 0 ? segmentStartSeconds : segmentStartSeconds + Double(segmentFrames) / Double(rate)
    }

    /// Switches to `newRate` (a new segment starts where the track ends).
    mutating func use(rate newRate: Int) {
        guard newRate != rate else { return }
        segmentStartSeconds = endSeconds
        segmentFrames = 0
        rate = newRate
    }

    /// Frames at `rate` from the track's end to `seconds` (rounded to the nearest frame); negative when `seconds` is
    /// before the end.
    mutating func frames(until seconds: Double, rate newRate: Int) -> Int {
        use(rate: newRate)
        return Int(((seconds - segmentStartSeconds) * Double(newRate)).rounded()) - segmentFrames
    }

    /// Records `count` frames placed at `rate`.
    mutating func advance(_ count: Int, rate newRate: Int) {
        use(rate: newRate)
        segmentFrames += count
    }
}
