// Threads of their own for recordings: their priority, and a serial queue on one (`startDedicatedThread`, in
// DeltaTapeKernels, starts them).
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DeltaTapeKernels
import Dispatch
import Synchronization

/// Lowers the calling thread's scheduling priority: for the threads of a recording inside a server, whose own work
/// (forwarding a conversation) must come first. On Linux the thread runs under `SCHED_IDLE` (it gets a core only when
/// no ordinary thread wants it, and a forwarding thread that wakes takes the core from it at once) at nice 10 (for
/// what reads the nice value); threads it starts inherit both. Measured with relay-benchmark (its first load, all 100
/// sessions in phase), recording WebM: added latency p99 10.5-12 ms at nice 10 alone, 5.4-7.4 ms under SCHED_IDLE
/// (WAV, nearly free, at nice 10: 5.2-6.3 ms). The cost is the recordings': on a saturated machine they fall behind,
/// and one too far behind is abandoned, as the relay intends. (`who` 0 and `pthread_self()` are the calling thread:
/// Linux keeps both per thread.)
func lowerCurrentThreadPriority() {
    #if os(Linux)
    _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
    var parameters = sched_param()  // priority 0, the only one SCHED_IDLE takes
    _ = pthread_setschedparam(pthread_self(), SCHED_IDLE_POLICY, &parameters)
    #endif
}

/// Takes `thread` (the calling thread when `nil`) out of `SCHED_IDLE` into the ordinary policy, keeping its nice 10:
/// for a recording that finishes, whose last blocks and finalization must not wait for a saturated host to go idle
/// (`SCHED_IDLE` is CFS weight 3, against 1024 for a busy ordinary thread at nice 0 and 110 at nice 10: beside a build
/// it gets a few thousandths of a core, and a relay on a loaded host did not finish its recordings within a minute of
/// SIGTERM). Linux lets a thread leave
/// `SCHED_IDLE` only with CAP_SYS_NICE or an RLIMIT_NICE of 10 or more; without them the thread stays where it is.
///
/// - Returns: Whether the thread now runs under the ordinary policy.
@discardableResult
func raiseThreadFromIdlePriority(_ thread: pthread_t? = nil) -> Bool {
    #if os(Linux)
    var parameters = sched_param()
    return pthread_setschedparam(thread ?? pthread_self(), SCHED_OTHER_POLICY, &parameters) == 0
    #else
    return true
    #endif
}

/// A thread of a recording as other threads see it, to take it out of `SCHED_IDLE` when its recording finishes: the
/// thread cannot do it itself while it gets no core.
final class PriorityHandle: Sendable {
    private struct State {
        var thread: pthread_t?
        var raised = false
    }

    private let state = Mutex(State())

    /// Called first on the thread: lowers it when `inBackground`, unless it was raised before it even ran.
    func start(inBackground: Bool) {
        state.withLock { state in
            if inBackground, !state.raised { lowerCurrentThreadPriority() }
            state.thread = pthread_self()
        }
    }

    /// Takes the thread out of `SCHED_IDLE` now, or keeps it from going there if it has not started.
    func raise() {
        state.withLock { state in
            state.raised = true
            if let thread = state.thread { raiseThreadFromIdlePriority(thread) }
        }
    }
}

#if os(Linux)
/// `SCHED_IDLE` from <sched.h>, which Glibc's Swift overlay does not carry.
private let SCHED_IDLE_POLICY: Int32 = 5
/// `SCHED_OTHER`, likewise.
private let SCHED_OTHER_POLICY: Int32 = 0
#endif

/// Jobs run one after the other on a thread of its own (in place of a serial Dispatch queue, whose threads come from
/// the pool Swift's executor shares, and whose priority cannot be lowered without lowering the pool's), handed over
/// through an ``IngressQueue``: a job may carry bytes (a block of samples), and a producer of such jobs is held back
/// while the jobs not yet done hold the queue's high watermark. The thread ends when the last reference to this object
/// goes.
final class SerialThread: Sendable {
    private struct Job: Sendable {
        let byteCount: Int
        let run: @Sendable () -> Void
    }

    private let jobs: IngressQueue<Job>
    private let thread = PriorityHandle()

    /// Starts the thread `name`, at a lower priority when `inBackground`; without a thread (the system refused one),
    /// jobs run on the caller's thread.
    ///
    /// - Parameter watermarks: How many bytes of jobs may wait or run; a job's bytes count until it is done.
    init(name: String, inBackground: Bool, watermarks: BufferWatermarks = BufferWatermarks(low: .max, high: .max)) {
        let jobs = IngressQueue<Job>(watermarks: watermarks, accounting: .untilNextTake) { $0.byteCount }
        self.jobs = jobs
        let thread = self.thread
        let started = startDedicatedThread(named: name) {
            thread.start(inBackground: inBackground)
            while let job = jobs.take() { job.run() }
        }
        if !started { jobs.refuse() }
    }

    deinit {
        jobs.refuse(.finished)
    }

    /// Runs `job` on the thread, after the jobs before it, whatever they hold.
    func async(_ job: @escaping @Sendable () -> Void) {
        do throws(IngressRefusal) {
            try jobs.force(Job(byteCount: 0, run: job))
        } catch {
            job()  // no thread
        }
    }

    /// Runs `job`, which holds `byteCount` bytes, on the thread after the jobs before it, blocking the calling thread
    /// while the jobs not yet done hold the high watermark.
    func async(holding byteCount: Int, _ job: @escaping @Sendable () -> Void) {
        do throws(IngressRefusal) {
            try jobs.pushBlocking(Job(byteCount: byteCount, run: job), byteCount: byteCount)
        } catch {
            job()  // no thread
        }
    }

    /// Takes the thread out of `SCHED_IDLE` (see ``raiseThreadFromIdlePriority(_:)``): its jobs' end is awaited.
    func raiseFromIdlePriority() {
        thread.raise()
    }

    /// Returns once the jobs not yet done are down to the low watermark, suspending (not blocking) meanwhile.
    func waitForRoom() async {
        await jobs.waitForRoom()
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
