@_spi(Blocks) import DeltaTapeEvents
import DeltaTapeTimeline
import DeltaTapeContainers

/// Where the timeline's tracks go. One track: straight to its output (resampled there when the rate changes). Both
/// tracks: each through a resampler of its own to one output rate, then laid out (stereo, mono or separate files).
///
/// With both tracks the output's rate is the higher of the two tracks' rates, so the first samples wait (bounded) until
/// both tracks have had audio.
final class TimelineOutput: TimelineSink {
    typealias Failure = ConversionError

    private let options: ConversionOptions
    private let makeSink: (AudioTrack?) throws(OutputError) -> any ByteSink
    /// One track, or stereo/mono: one output. Separate: the user's.
    private(set) var main: PCMOutput?
    /// Separate: the assistant's output.
    private(set) var second: PCMOutput?
    private var flushInterval: Double?

    // Both tracks:
    private var pending = PendingTracks()
    private var outputRate: Int?
    private var userStage: ResamplingStage?
    private var assistantStage: ResamplingStage?
    private var level = LevelledTracks()
    /// The frames of the layout being written (interleaved or mixed).
    private var laidOut: [Int16] = []
    private var silence = [Int16](repeating: 0, count: 4_096)

    init(options: ConversionOptions, makeSink: @escaping (AudioTrack?) throws(OutputError) -> any ByteSink) {
        self.options = options
        self.makeSink = makeSink
        if options.track.single != nil {
            main = PCMOutput(options: options) { () throws(OutputError) in try makeSink(nil) }
        }
    }

    /// The writers opened so far (two for separate files).
    var writers: [any PCMWriter] { [main?.writer, second?.writer].compactMap { $0 } }
    /// Every rate the tracks' samples came in at (those other than the output's were resampled).
    private(set) var sourceRates: Set<Int> = []

    /// Seconds of wall time between flushes (see ``SessionPipeline/flushInterval``).
    func setFlushInterval(_ interval: Double?) {
        flushInterval = interval
        main?.flushInterval = interval
        second?.flushInterval = interval
    }

    func write(_ samples: UnsafeBufferPointer<Int16>, rate: Int, track: AudioTrack) throws(ConversionError) {
        sourceRates.insert(rate)
        if options.track.single != nil {
            try main?.write(samples, rate: rate)
            return
        }
        guard let outputRate else {
            pending.append(samples, rate: rate, track: track)
            return try decideRateWhenReady()
        }
        try stage(track).write(samples, rate: rate, outputRate: outputRate) { (resampled) throws(OutputError) in
            try level.append(resampled, track: track, into: self)
        }
    }

    func writeSilence(frameCount: Int, rate: Int, track: AudioTrack) throws(ConversionError) {
        if options.track.single == nil, outputRate == nil {
            pending.appendSilence(frameCount, rate: rate, track: track)
            return try decideRateWhenReady()
        }
        var left = frameCount
        while left > 0 {
            let count = min(left, silence.count)
            try silence.withUnsafeBufferPointer { (zeros) throws(ConversionError) in
                try write(UnsafeBufferPointer(rebasing: zeros[..<count]), rate: rate, track: track)
            }
            left -= count
        }
    }

    /// Decides the output's rate now if it waits for the second track's audio, so that what is held reaches the file.
    func releasePending() throws(ConversionError) {
        if options.track.single == nil, outputRate == nil, !pending.chunks.isEmpty { try decideRate() }
    }

    func flush() throws(ConversionError) {
        try main?.flush()
        try second?.flush()
    }

    func flushIfDue() throws(ConversionError) {
        try main?.flushIfDue()
        try second?.flushIfDue()
    }

    /// Flushes the resamplers, levels the tracks and closes the outputs.
    func finish() throws(ConversionError) {
        if options.track.single == nil {
            if outputRate == nil { try decideRate() }
            if let outputRate {
                for track in [AudioTrack.user, .assistant] {
                    try stage(track).finish { (resampled) throws(OutputError) in
                        try level.append(resampled, track: track, into: self)
                    }
                }
                _ = outputRate
                try level.finish(into: self)
            }
        }
        try main?.finish()
        try second?.finish()
    }

    func closeQuietly() {
        main?.closeQuietly()
        second?.closeQuietly()
    }

    // MARK: - Both tracks

    private func stage(_ track: AudioTrack) -> ResamplingStage {
        let existing = track == .user ? userStage : assistantStage
        if let existing { return existing }
        let made = ResamplingStage(engine: options.resampler, quality: options.quality, channelCount: 1)
        if track == .user { userStage = made } else { assistantStage = made }
        return made
    }

    /// Decides the output's rate once both tracks have had audio, or once a minute of one track waits.
    private func decideRateWhenReady() throws(ConversionError) {
        guard pending.audioRates.count == 2 || pending.heldSeconds > 60 else { return }
        try decideRate()
    }

    private func decideRate() throws(ConversionError) {
        let source = options.sampleRate ?? pending.audioRates.values.max() ?? pending.silenceRate ?? 24_000
        let rate = options.format.writtenSampleRate(for: source)
        outputRate = rate
        var decided = options
        decided.sampleRate = rate
        switch options.layout {
        case .stereo:
            main = PCMOutput(options: decided, channelCount: 2) { () throws(OutputError) in try self.makeSink(nil) }
        case .mono:
            main = PCMOutput(options: decided, channelCount: 1) { () throws(OutputError) in try self.makeSink(nil) }
        case .separate:
            main = PCMOutput(options: decided, channelCount: 1) { () throws(OutputError) in try self.makeSink(.user) }
            second = PCMOutput(options: decided, channelCount: 1) { () throws(OutputError) in try self.makeSink(.assistant) }
        }
        setFlushInterval(flushInterval)
        let held = pending
        pending = PendingTracks()
        for chunk in held.chunks {
            switch chunk.content {
            case .samples(let samples):
                try samples.withUnsafeBufferPointer { (samples) throws(ConversionError) in
                    try write(samples, rate: chunk.rate, track: chunk.track)
                }
            case .silence(let count):
                try writeSilence(frameCount: count, rate: chunk.rate, track: chunk.track)
            }
        }
    }

    /// Writes frames both tracks have reached, laid out.
    fileprivate func emit(user: UnsafeBufferPointer<Int16>, assistant: UnsafeBufferPointer<Int16>) throws(OutputError) {
        do throws(ConversionError) {
            let rate = outputRate ?? 0
            switch options.layout {
            case .separate:
                try main?.write(user, rate: rate)
                try second?.write(assistant, rate: rate)
            case .stereo, .mono:
                let channels = options.layout == .stereo ? 2 : 1
                let count = user.count * channels
                if laidOut.count < count { laidOut = [Int16](repeating: 0, count: count) }
                // A plain loop over raw pointers: appending sample by sample took a third of a stereo conversion.
                try laidOut.withUnsafeMutableBufferPointer { (frames) throws(ConversionError) in
                    guard let out = frames.baseAddress, let left = user.baseAddress, let right = assistant.baseAddress else { return }
                    if channels == 2 {
                        for index in 0..<user.count {
                            out[2 &* index] = left[index]
                            out[2 &* index &+ 1] = right[index]
                        }
                    } else {
                        for index in 0..<user.count {
                            out[index] = Int16(clamping: Int32(left[index]) &+ Int32(right[index]))
                        }
                    }
                    try main?.write(UnsafeBufferPointer(rebasing: frames[..<count]), rate: rate)
                }
            }
        } catch {
            throw LevelFailure.wrap(error)
        }
    }
}

/// Carries a pipeline error through a resampler's `emit`, which throws ``OutputError``.
enum LevelFailure {
    /// The write failure itself, or (rarely) another pipeline error described as one.
    static func wrap(_ error: ConversionError) -> OutputError {
        if case .output(let output) = error { return output }
        return OutputError(path: "output", reason: "\(error)")
    }
}

/// The two tracks at the output rate, each waiting until the other has reached the same frame.
private struct LevelledTracks {
    var user = SampleQueue()
    var assistant = SampleQueue()

    mutating func append(_ samples: UnsafeBufferPointer<Int16>, track: AudioTrack, into output: TimelineOutput) throws(OutputError) {
        if track == .user { user.append(samples) } else { assistant.append(samples) }
        try drain(into: output)
    }

    /// Emits the frames both tracks hold, a block's worth at most per call, so the output's buffers stay small.
    private mutating func drain(into output: TimelineOutput) throws(OutputError) {
        while true {
            let count = min(user.contiguousCount, assistant.contiguousCount)
            guard count > 0 else { return }
            try user.withFirst(count) { (left) throws(OutputError) in
                try assistant.withFirst(count) { (right) throws(OutputError) in
                    try output.emit(user: left, assistant: right)
                }
            }
            user.removeFirst(count)
            assistant.removeFirst(count)
        }
    }

    /// Pads the shorter track with silence (the resamplers' last frames may differ by one) and writes the rest.
    mutating func finish(into output: TimelineOutput) throws(ConversionError) {
        let length = max(user.count, assistant.count)
        user.appendSilence(length - user.count)
        assistant.appendSilence(length - assistant.count)
        do throws(OutputError) {
            try drain(into: output)
        } catch {
            throw .output(error)
        }
    }
}

/// Samples in order, kept in blocks of a fixed size: one track runs ahead of the other by up to an answer (the timeline
/// hands an answer over when it can no longer be cut), and one growing array held that twice over at its peak (the
/// old storage and the new while growing: 9.7 MB of a stereo conversion's 24 MB heap). Blocks hold what is queued
/// plus one block, and emptied blocks are kept for reuse.
private struct SampleQueue {
    private static let blockSize = 16_384
    /// Queued blocks, oldest first; samples before `head` in the first have been taken.
    private var blocks: [[Int16]] = []
    private var head = 0
    private var spare: [Int16]?
    private(set) var count = 0

    mutating func append(_ samples: UnsafeBufferPointer<Int16>) {
        var rest = samples[...]
        while !rest.isEmpty {
            if blocks.isEmpty || blocks[blocks.count - 1].count == Self.blockSize {
                var block = spare.take() ?? []
                block.reserveCapacity(Self.blockSize)
                blocks.append(block)
            }
            let taken = rest.prefix(Self.blockSize - blocks[blocks.count - 1].count)
            blocks[blocks.count - 1].append(contentsOf: taken)
            rest = rest.dropFirst(taken.count)
            count += taken.count
        }
    }

    mutating func appendSilence(_ count: Int) {
        let zeros = [Int16](repeating: 0, count: min(count, Self.blockSize))
        var left = count
        while left > 0 {
            zeros.withUnsafeBufferPointer { append(UnsafeBufferPointer(rebasing: $0[..<min(left, zeros.count)])) }
            left -= min(left, zeros.count)
        }
    }

    /// Samples at the front that lie in one block: what ``withFirst(_:_:)`` can pass at once (0 when empty).
    var contiguousCount: Int { blocks.first.map { $0.count - head } ?? 0 }

    /// Passes the oldest `count` samples, at most ``contiguousCount``, to `body`.
    func withFirst<Failure: Error>(_ count: Int, _ body: (UnsafeBufferPointer<Int16>) throws(Failure) -> Void) throws(Failure) {
        guard let first = blocks.first else { return }
        try first.withUnsafeBufferPointer { (all) throws(Failure) in
            try body(UnsafeBufferPointer(rebasing: all[head..<(head + count)]))
        }
    }

    /// Removes the oldest `count` samples, at most ``contiguousCount``; an emptied block is kept for reuse.
    mutating func removeFirst(_ count: Int) {
        head += count
        self.count -= count
        if let first = blocks.first, head == first.count {
            var emptied = blocks.removeFirst()
            emptied.removeAll(keepingCapacity: true)
            spare = emptied
            head = 0
        }
    }
}

/// The timeline's output before the output's rate is decided: at most a minute of audio a track.
private struct PendingTracks {
    enum Content {
        case samples([Int16])
        case silence(Int)
    }

    struct Chunk {
        var track: AudioTrack
        var rate: Int
        var content: Content
    }

    var chunks: [Chunk] = []
    /// The rate of each track's first audio.
    var audioRates: [AudioTrack: Int] = [:]
    var silenceRate: Int?
    var heldSeconds = 0.0

    mutating func append(_ samples: UnsafeBufferPointer<Int16>, rate: Int, track: AudioTrack) {
        if audioRates[track] == nil { audioRates[track] = rate }
        chunks.append(Chunk(track: track, rate: rate, content: .samples(Array(samples))))
        heldSeconds += Double(samples.count) / Double(rate)
    }

    mutating func appendSilence(_ count: Int, rate: Int, track: AudioTrack) {
        if silenceRate == nil { silenceRate = rate }
        chunks.append(Chunk(track: track, rate: rate, content: .silence(count)))
    }
}
