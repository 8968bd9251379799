public import DeltaTapeKernels

/// Something PCM samples are written to: a WAV file, a WAV stream.
public protocol PCMWriter: AnyObject {
    /// The output's path or name, for messages.
    var path: String { get }
    /// Frames per second.
    var sampleRate: Int { get }
    /// Channels per frame.
    var channelCount: Int { get }
    /// The sample format written.
    var sampleFormat: PCMSampleFormat { get }
    /// Frames written so far.
    var frameCount: Int { get }

    /// Appends interleaved samples.
    /// - Throws: ``OutputError`` when writing fails.
    func write(_ samples: UnsafeBufferPointer<Int16>) throws(OutputError)

    /// Writes what is buffered and finishes the output.
    /// - Throws: ``OutputError`` when writing fails.
    func close() throws(OutputError)
}

extension WAVFileWriter: PCMWriter {}
