// Why a task executor of our own: an async writer's task (``OutputDestination/writer(bufferedBytes:_:)``) must run
// even when every thread of Swift's cooperative pool is blocked, and the blocking calls (`SessionConverter.convert`,
// `SessionLogRecorder.finishBlocking`) may well be made from tasks of that pool: a server's request handler, a test.
// The pool is as wide as the machine has cores, so two such calls on two cores left the writers' tasks no thread and
// every call waited for its writer forever (found by ConverterDestinationTests). A task that prefers this executor
// runs its jobs on a thread of its own instead.
import DeltaTapeKernels
import Dispatch
import Synchronization

/// A task executor that runs every job on one dedicated thread, which ends after ``stop()`` once its jobs have run.
package final class ThreadTaskExecutor: TaskExecutor {
    private struct Jobs {
        var waiting: [UnownedJob] = []
        var stopping = false
    }

    private let jobs = Mutex(Jobs())
    /// Signalled once per job enqueued and once by ``stop()``.
    private let available = DispatchSemaphore(value: 0)

    /// Starts the thread, named `name` (at most 15 bytes show on Linux); `nil` if the system would not start one.
    package init?(name: String) {
        guard startDedicatedThread(named: name, { [self] in run() }) else { return nil }
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.waiting.append(job) }
        available.signal()
    }

    /// Lets the thread end once the jobs enqueued so far have run. Call it when the tasks that prefer this executor
    /// have ended (from the last of them, for example).
    package func stop() {
        jobs.withLock { $0.stopping = true }
        available.signal()
    }

    private func run() {
        while true {
            available.wait()
            let next: UnownedJob?? = jobs.withLock { jobs in
                if !jobs.waiting.isEmpty { return jobs.waiting.removeFirst() }
                return jobs.stopping ? .some(nil) : nil
            }
            switch next {
            case .some(.some(let job)): job.runSynchronously(on: asUnownedTaskExecutor())
            case .some(.none): return
            case .none: continue
            }
        }
    }
}
