// A POSIX thread of its own for work that blocks for as long as it lives (the recorder's consumer waits on a semaphore
// between messages). Dispatch would run it on a thread of its pool, and on Linux that pool stops at 255 threads: the
// 256th recorder of a relay would never start (measured: 400 blocking `DispatchQueue(label:).async` items, 255 ran).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Starts `body` on a new detached thread; returns once the thread exists.
///
/// - Parameter name: The thread's name where the system shows one (`top -H`, `ps -L`, profilers; at most 15 bytes on
///   Linux): a thread otherwise carries the name of the thread that started it (a relay's recorders were all named
///   after its event loops).
/// - Returns: `false` if the system would not create a thread (`body` is then not run).
@discardableResult
package func startDedicatedThread(named name: String, _ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box {
        nameCurrentThread(name)
        body()
    }).toOpaque()
    #if canImport(Darwin)
    var thread: pthread_t?
    #else
    var thread = pthread_t()
    #endif
    let status = pthread_create(&thread, nil, { context in
        #if canImport(Darwin)
        let box = Unmanaged<Box>.fromOpaque(context).takeRetainedValue()
        #else
        let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
        #endif
        box.body()
        return nil
    }, context)
    guard status == 0 else {
        Unmanaged<Box>.fromOpaque(context).release()
        return false
    }
    #if canImport(Darwin)
    if let thread { pthread_detach(thread) }
    #else
    pthread_detach(thread)
    #endif
    return true
}


/// Names the calling thread (Linux: its `comm`, written through procfs, since Glibc's Swift overlay does not carry
/// `pthread_setname_np`). Best effort: a name that cannot be set leaves the thread as it was.
private func nameCurrentThread(_ name: String) {
    #if os(Linux)
    let file = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard file >= 0 else { return }
    var bytes = Array(name.utf8.prefix(15))
    _ = write(file, &bytes, bytes.count)
    close(file)
    #endif
}
