// Buffers that end flush against an inaccessible page, so a kernel that reads or writes one byte past the end of
// its buffer crashes the test at the faulty access instead of touching the slack a Swift array may have.
import Foundation

/// Calls `body` with `count` bytes that end exactly where a `PROT_NONE` page begins.
///
/// The bytes are filled with `fill`. Any access past the end faults (SIGSEGV): the test process stops there,
/// with the kernel's frame on the stack. Memory before the buffer is readable, so only overruns are caught.
public func withPageEndBytes<R>(count: Int, fill: UInt8 = 0, _ body: (UnsafeMutableRawBufferPointer) throws -> R) throws -> R {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let dataPages = max(1, (count + page - 1) / page)
    let length = (dataPages + 1) * page
    guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED else {
        throw TestSupportError("mmap of \(length) bytes failed: errno \(errno)")
    }
    defer { munmap(base, length) }
    let guardPage = base + dataPages * page
    guard mprotect(guardPage, page, PROT_NONE) == 0 else { throw TestSupportError("mprotect failed: errno \(errno)") }
    let buffer = UnsafeMutableRawBufferPointer(start: guardPage - count, count: count)
    buffer.initializeMemory(as: UInt8.self, repeating: fill)
    return try body(buffer)
}

/// Copies `bytes` to the end of a page-end buffer (see ``withPageEndBytes(count:fill:_:)``) and calls `body` with it.
public func withPageEndCopy<R>(of bytes: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    try withPageEndBytes(count: bytes.count) { buffer in
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return try body(UnsafeRawBufferPointer(buffer))
    }
}
