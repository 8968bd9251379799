// Only `import DeltaTape`, as a user writes it: every public type must be nameable through it. Two modules
// exporting the same name (once, two types named AudioStreamKey) make that fail to compile: this target is the check.
import DeltaTape
import Testing

@Suite struct PublicAPITests {
    /// Every public type of every layer, named through the one import (building blocks are `package` or
    /// `@_spi(Blocks)`, so they are not here). Listed by hand on purpose: a new public type belongs here too, and
    /// `scripts/public-api.sh --list` lists them.
    static let publicTypes: [Any.Type] = [
        AudioFormat.self,
        AudioTrack.self,
        (any ByteSink).self,
        ChannelLayout.self,
        ConversionOptions.self,
        ConversionProgress.self,
        ConversionSummary.self,
        ConversionError.self,
        Diagnosis.self,
        InputError.self,
        InputKind.self,
        MessageDirection.self,
        OpusApplication.self,
        OpusSettings.self,
        OutputDestination.self,
        OutputError.self,
        OutputFormat.self,
        PCMSampleFormat.self,
        (any PCMWriter).self,
        PlacementRule.self,
        (any PositionalByteSink).self,
        PartByteSink.self,
        PartByteSink.Part.self,
        Problem.self,
        ResamplerEngine.self,
        ResamplerError.self,
        ResamplerQuality.self,
        SampleEncoding.self,
        SessionConverter.self,
        SessionInspector.self,
        SessionRecorder.self,
        SessionRecorder.Offer.self,
        SessionLogRecorder.self,
        SessionLogRecorder.Arrival.self,
        BufferWatermarks.self,
        BufferStatistics.self,
        SessionReport.self,
        SessionReport.FormatReport.self,
        SessionReport.TimelineReport.self,
        SessionReport.TrackReport.self,
        TimelineStatistics.self,
        TrackSelection.self,
        Vocabulary.self,
    ]

    @Test func everyPublicTypeIsNameableThroughTheOneImport() {
        let names = Self.publicTypes.map { String(reflecting: $0) }
        #expect(Set(names).count == names.count, "a type is listed twice: \(names)")
        // Each name resolves to a module of this package.
        #expect(names.allSatisfy { $0.contains("DeltaTape") }, "\(names.filter { !$0.contains("DeltaTape") })")
    }
}
