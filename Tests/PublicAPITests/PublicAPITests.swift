// Only `import DeltaTape`, as a user writes it: every public type must be nameable through it. Two modules
// exporting the same name (once, two types named AudioStreamKey) make that fail to compile: this target is the check.
import DeltaTape
import Testing

@Suite struct PublicAPITests {
    /// Every public type of every layer, named through the one import. Listed by hand on purpose: a new public type
    /// belongs here too (`grep -rn "^ *public .*\\(struct\\|class\\|enum\\|protocol\\)" Sources`).
    static let publicTypes: [Any.Type] = [
        AudioDelta.self,
        AudioFileError.self,
        AudioFileReader.self,
        AudioFormat.self,
        AudioStreamKey.self,
        AudioStreamReference.self,
        AudioTrack.self,
        ChannelLayout.self,
        ConversationTimeline<NullTimelineSink>.self,
        Base64.self,
        Base64StreamDecoder.self,
        (any ByteSink).self,
        (any ByteSource).self,
        ConversionOptions.self,
        ConversionProgress.self,
        ConversionSummary.self,
        DeltaTapeError.self,
        Diagnosis.self,
        EncoderThread.self,
        Envelope.self,
        Event.self,
        EventReadError.self,
        EventReader.self,
        FileByteSource.self,
        FileDescriptorSink.self,
        G711.self,
        HARReader<FileByteSource>.self,
        InputError.self,
        InputKind.self,
        Interruption.self,
        JSONArrayReader<FileByteSource>.self,
        JSONChildren.self,
        JSONMember.self,
        JSONNumber.self,
        JSONObjectView.self,
        JSONScanFailure.self,
        JSONScanner.self,
        JSONString.self,
        JSONStringScan.self,
        JSONSyntaxError.self,
        JSONValueKind.self,
        LibsamplerateResampler.self,
        LineReader<FileByteSource>.self,
        MemoryByteSource.self,
        (any MessageSource).self,
        OggOpusWriter.self,
        OpusApplication.self,
        OpusContainer.self,
        OpusError.self,
        OpusPCMWriter.self,
        OpusPacket.self,
        (any OpusPacketContainer).self,
        OpusSettings.self,
        OpusStreamEncoder.self,
        PlacementRule.self,
        TimelineNote.self,
        (any TimelineSink).self,
        TimelineStatistics.self,
        TrackSelection.self,
        TurnSignals.self,
        OutputDestination.self,
        OutputError.self,
        OutputFormat.self,
        PCMConversion.self,
        PCMResampler.self,
        PCMSampleFormat.self,
        (any PCMWriter).self,
        PayloadDecoder.self,
        (any PositionalByteSink).self,
        Problem.self,
        (any Resampler).self,
        ResamplerEngine.self,
        ResamplerError.self,
        ResamplerQuality.self,
        ResamplingFormat.self,
        SIMDSupport.self,
        SampleEncoding.self,
        SessionConverter.self,
        SessionInspector.self,
        SessionLog.self,
        SessionPipeline.self,
        SessionReport.self,
        SoxrResampler.self,
        StageFailure<OpusError,OutputError>.self,
        TrackAssembler.self,
        Truncation.self,
        Vocabulary.self,
        WAVWriter.self,
        WebMOpusWriter.self,
        Event.Content.self,
        Base64.DecodingError.self,
        Base64.DecodingError.Reason.self,
        JSONChildren.Iterator.self,
        SessionLog.OpenedInput.self,
        PayloadDecoder.Result.self,
        SessionReport.TrackReport.self,
    ]

    @Test func everyPublicTypeIsNameableThroughTheOneImport() {
        let names = Self.publicTypes.map { String(reflecting: $0) }
        #expect(Set(names).count == names.count, "a type is listed twice: \(names)")
        // Each name resolves to a module of this package.
        #expect(names.allSatisfy { $0.contains("DeltaTape") }, "\(names.filter { !$0.contains("DeltaTape") })")
    }
}

/// A sink that drops the timeline's output: enough to name the generic timeline.
final class NullTimelineSink: TimelineSink {
    func write(_ samples: UnsafeBufferPointer<Int16>, rate: Int, track: AudioTrack) {}
    func writeSilence(frameCount: Int, rate: Int, track: AudioTrack) {}
}
