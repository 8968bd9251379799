// `import DeltaTape` is the one import users need, and it shows the task-level API only: converting, recording and
// inspecting, their options and summaries, outputs (formats, destinations, the sink protocols) and typed errors.
// The lower layers' public types among those are re-exported here. Their building blocks (readers, the JSON scanner,
// kernels, resamplers, writers) are `package`, or, where the project's separate packages (Relay/, Benchmarks/, Fuzz/)
// need them, SPI of one name for the whole project, `Blocks`: `@_spi(Blocks) import DeltaTape` reaches them through
// these re-exports, so the lower layers stay usable alone (SPEC) without being part of the API a user sees.
@_exported public import DeltaTapeKernels
@_exported public import DeltaTapeEvents
@_exported public import DeltaTapeTimeline
@_exported public import DeltaTapeContainers
@_exported public import DeltaTapeCodecs
