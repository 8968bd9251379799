// `import DeltaTape` is the one import users need: the lower layers are public and usable alone.
@_exported public import DeltaTapeKernels
@_exported public import DeltaTapeEvents
@_exported public import DeltaTapeTimeline
@_exported public import DeltaTapeContainers
@_exported public import DeltaTapeCodecs
