// The scanner's results in the reference validator's terms, for comparing the two. Shared by the conformance tests
// and the fuzz target (Fuzz/Sources/MessageFuzzer links this file), so both compare the same way.
@_spi(Blocks) import DeltaTapeEvents
#if canImport(TestSupport)
import TestSupport  // in the fuzz target the reference is compiled into the same module
#endif

extension ReferenceJSONValidator.Kind {
    init(_ kind: JSONValueKind) {
        switch kind {
        case .object: self = .object
        case .array: self = .array
        case .string: self = .string
        case .number: self = .number
        case .true: self = .true
        case .false: self = .false
        case .null: self = .null
        }
    }
}

extension ReferenceJSONValidator.Member {
    init(_ member: JSONMember) {
        self.init(key: member.key, value: member.value, kind: ReferenceJSONValidator.Kind(member.kind),
                  keyHasEscapes: member.keyHasEscapes, valueHasEscapes: member.valueHasEscapes)
    }
}
