// Comparing long sequences in expectations: Swift Testing prints both values of a failed `==` whole, which for a
// buffer of audio is megabytes of text and minutes of time; this says where they first differ instead.

/// Where `actual` first differs from `expected`, in words; `nil` when they are equal.
public func firstDifference<Actual: Sequence, Expected: Sequence>(_ actual: Actual, _ expected: Expected) -> String?
where Actual.Element == Expected.Element, Actual.Element: Equatable {
    var actualIterator = actual.makeIterator(), expectedIterator = expected.makeIterator()
    var index = 0
    while true {
        switch (actualIterator.next(), expectedIterator.next()) {
        case (nil, nil):
            return nil
        case (let value?, nil):
            return "longer than expected: \(value) at \(index), where \(index) elements were expected"
        case (nil, let value?):
            return "shorter than expected: \(index) elements, \(value) expected at \(index)"
        case (let value?, let wanted?):
            if value != wanted { return "\(value) at \(index), \(wanted) expected" }
        }
        index += 1
    }
}
