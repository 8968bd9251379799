/// The version of DeltaTape, the library and the `deltatape` command alike (`deltatape --version` prints it), as
/// semantic versioning spells it. Defined once, here.
public let deltaTapeVersion = "0.1.0"
