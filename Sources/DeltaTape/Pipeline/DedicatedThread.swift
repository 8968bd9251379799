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
import Dispatch
import Synchronization

/// Starts `body` on a new detached thread; returns once the thread exists.
///
/// - Returns: `false` if the system would not create a thread (`body` is then not run).
@discardableResult
func startDedicatedThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
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

/// Lowers the calling thread's scheduling priority (nice +10, Linux's per-thread nice): for the threads of a recording
/// inside a server, whose own work (forwarding a conversation) must come first. Without effect where threads have no
/// nice value of their own. (`who` 0 is the calling thread: Linux keeps a nice value per thread, and the kernel reads
/// 0 as the caller, `current`, a thread.)
func lowerCurrentThreadPriority() {
    #if os(Linux)
    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
    #endif
}

/// Jobs run one after the other on a thread of its own (in place of a serial Dispatch queue, whose threads come from
/// the pool Swift's executor shares, and whose priority cannot be lowered without lowering the pool's). The thread
/// ends when the last reference to this object goes.
final class SerialThread: Sendable {
    private final class Jobs: Sendable {
        let queue = Mutex<(jobs: [@Sendable () -> Void], head: Int, ended: Bool)>(([], 0, false))
        let available = DispatchSemaphore(value: 0)
    }

    private let jobs = Jobs()

    /// Starts the thread, at a lower priority when `inBackground`; without a thread (the system refused one), jobs
    /// run on the caller's thread.
    init(inBackground: Bool) {
        let jobs = self.jobs
        let started = startDedicatedThread {
            if inBackground { lowerCurrentThreadPriority() }
            while true {
                jobs.available.wait()
                let next = jobs.queue.withLock { queue -> (@Sendable () -> Void)? in
                    guard queue.head < queue.jobs.count else { return nil }
                    let job = queue.jobs[queue.head]
                    queue.head += 1
                    if queue.head == queue.jobs.count {
                        queue.jobs.removeAll(keepingCapacity: true)
                        queue.head = 0
                    }
                    return job
                }
                guard let next else { return }  // the end: signalled with nothing queued
                next()
            }
        }
        if !started { jobs.queue.withLock { $0.ended = true } }
    }

    deinit {
        jobs.queue.withLock { $0.ended = true }
        jobs.available.signal()
    }

    /// Runs `job` on the thread, after the jobs before it.
    func async(_ job: @escaping @Sendable () -> Void) {
        let runHere = jobs.queue.withLock { queue -> Bool in
            guard !queue.ended else { return true }
            queue.jobs.append(job)
            return false
        }
        if runHere { job() } else { jobs.available.signal() }
    }

    /// Runs `body` on the thread after the jobs before it, and returns its result; never call it from the thread.
    func sync<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<T?>(nil)
        async {
            let value = body()
            result.withLock { $0 = value }
            done.signal()
        }
        done.wait()
        return result.withLock { $0! }
    }
}
