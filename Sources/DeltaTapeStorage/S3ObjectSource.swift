#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

import DeltaTapeKernels
@_spi(Blocks) package import DeltaTapeEvents

/// An S3 object read as a session log's bytes: ranged GETs of ``chunkByteCount`` bytes each, made on a read-ahead
/// thread of the source's own, at most ``bufferCount`` chunks in memory (the one being read and the ones fetched
/// ahead), whatever the object's size.
///
/// **Back-pressure.** The read-ahead thread fetches a chunk only into a free buffer; it waits, between two GETs and
/// holding no connection, while the reader has not given one back. A slow conversion slows the downloading, and no
/// request stays open while the reader is busy.
///
/// **Threads.** ``read(into:)`` blocks while the next chunk is on its way, so read from a thread of your own (as the
/// conversion does), never from a task of Swift's cooperative pool. The S3 client is called only on the read-ahead
/// thread.
///
/// **Consistency.** Every GET after the first must answer with the first one's ETag: an object replaced while it is
/// read fails the read rather than splicing two objects together.
package final class S3ObjectSource: SessionLogSource, @unchecked Sendable {
    /// The bytes of one ranged GET unless the caller says otherwise: 8 MiB, a request every few tenths of a second at
    /// the speeds S3 serves a single connection, and two of them (24 MiB with the buffer fetched ahead) a bound the
    /// conversion's other buffers stay well under.
    package static let defaultChunkByteCount = 8 << 20

    /// `s3://BUCKET/KEY`, for messages.
    package let name: String
    /// An object is all there: never live.
    package var isLive: Bool { false }
    /// Never runs: an object does not stall as a pipe does (a slow server is the client's timeouts' business).
    package var stallHandler: InputStallHandler?
    /// The bytes of each ranged GET.
    package let chunkByteCount: Int
    /// Chunks in memory at most.
    package let bufferCount: Int

    private let address: S3Address
    private let state: ReadAheadState
    /// The chunk being read, and how far.
    private var current: FetchedChunk?
    private var currentOffset = 0

    /// Starts reading `address` ahead on a thread of its own; the first GET goes out at once.
    ///
    /// - Parameters:
    ///   - address: The object.
    ///   - client: The client that reads it.
    ///   - chunkByteCount: The bytes of each ranged GET (at least 64 KiB).
    ///   - bufferCount: How many chunks may be in memory at once (at least 2: one read, one fetched ahead).
    /// - Throws: ``InputError`` when the address names a prefix, not an object, or the system refused a thread.
    package init(address: S3Address, client: S3Client, chunkByteCount: Int = S3ObjectSource.defaultChunkByteCount,
                 bufferCount: Int = 2) throws(InputError) {
        name = address.description
        self.address = address
        self.chunkByteCount = max(64 << 10, chunkByteCount)
        self.bufferCount = max(2, bufferCount)
        guard !address.isPrefix else {
            throw InputError(name: name, reason: "names a prefix (every object under it), not one object; name the object's key")
        }
        let state = ReadAheadState(bufferCount: self.bufferCount)
        self.state = state
        let fetcher = ChunkFetcher(address: address, client: client, chunkByteCount: self.chunkByteCount, state: state)
        guard startDedicatedThread(named: "deltatape-s3get", { fetcher.run() }) else {
            throw InputError(name: name, reason: "the system would not start a thread to read the object (errno \(errno))", code: errno)
        }
    }

    deinit {
        state.close()
    }

    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(InputError) -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            if let chunk = current {
                let count = min(buffer.count, chunk.byteCount - currentOffset)
                if count > 0 {
                    buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: chunk.memory[currentOffset..<(currentOffset + count)]))
                    currentOffset += count
                    return count
                }
                current = nil
                state.recycle(chunk)
            }
            switch state.take() {
            case .chunk(let chunk):
                current = chunk
                currentOffset = 0
            case .end:
                return 0
            case .failure(let error):
                throw error
            }
        }
    }

    /// Stops the read-ahead (a GET under way ends with its current request) and lets go of the buffers.
    package func close() {
        if let current {
            self.current = nil
            state.recycle(current)
        }
        state.close()
    }
}

/// One chunk's memory, filled by a ranged GET.
final class FetchedChunk: @unchecked Sendable {
    let memory: UnsafeMutableRawBufferPointer
    /// The bytes the GET put there.
    var byteCount = 0

    init(capacity: Int) {
        memory = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit {
        memory.deallocate()
    }
}

/// What the reader takes next.
enum ReadAheadItem {
    case chunk(FetchedChunk)
    case end
    case failure(InputError)
}

/// The hand-over between the read-ahead thread and the reader: filled chunks in order, free buffers back, the end or a
/// failure, under one lock and a condition each side waits on.
final class ReadAheadState: @unchecked Sendable {
    // Allocated, not stored properties: a pthread object must not move, and `&property` promises no fixed address.
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var filled: [FetchedChunk] = []
    private var free: [FetchedChunk] = []
    /// Buffers not yet allocated (made on first need: a small object never takes a second one).
    private var unallocated: Int
    private var finished: ReadAheadItem?
    private var isClosed = false

    init(bufferCount: Int) {
        unallocated = bufferCount
        pthread_mutex_init(lock, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(lock)
        changed.deallocate()
        lock.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return body()
    }

    /// For the reader: the next chunk, waiting for it; the end or the failure once every chunk before it was taken.
    func take() -> ReadAheadItem {
        locked {
            while true {
                if !filled.isEmpty { return .chunk(filled.removeFirst()) }
                if let finished { return finished }
                if isClosed { return .end }
                pthread_cond_wait(changed, lock)
            }
        }
    }

    /// For the reader: a chunk read to its end, free to be filled again.
    func recycle(_ chunk: FetchedChunk) {
        locked {
            if !isClosed { free.append(chunk) }
            pthread_cond_broadcast(changed)
        }
    }

    /// For the reader: no more reading; the read-ahead stops at its next chance.
    func close() {
        locked {
            isClosed = true
            filled.removeAll()
            free.removeAll()
            pthread_cond_broadcast(changed)
        }
    }

    /// For the read-ahead thread: a buffer to fill, waiting while all are in use; `nil` once the reader closed.
    func freeBuffer(capacity: Int) -> FetchedChunk? {
        locked {
            while true {
                if isClosed { return nil }
                if let chunk = free.popLast() { return chunk }
                if unallocated > 0 {
                    unallocated -= 1
                    return FetchedChunk(capacity: capacity)
                }
                pthread_cond_wait(changed, lock)
            }
        }
    }

    /// For the read-ahead thread: a filled chunk, next in order.
    func deliver(_ chunk: FetchedChunk) {
        locked {
            if !isClosed { filled.append(chunk) }
            pthread_cond_broadcast(changed)
        }
    }

    /// For the read-ahead thread: the object's end, or a failure, after the chunks delivered before.
    func finish(_ item: ReadAheadItem) {
        locked {
            finished = item
            pthread_cond_broadcast(changed)
        }
    }

    /// Whether the reader closed the source (the read-ahead thread checks between GETs and inside one).
    var closed: Bool { locked { isClosed } }
}

/// The read-ahead thread's work: one ranged GET after another into free buffers, until the object's end.
private struct ChunkFetcher: Sendable {
    let address: S3Address
    let client: S3Client
    let chunkByteCount: Int
    let state: ReadAheadState

    /// Thrown from inside a GET's consumer when the reader has closed, to end the transfer.
    private struct Closed: Error {}

    func run() {
        var offset: Int64 = 0
        var objectByteCount: Int64?
        var etag: String?
        while objectByteCount.map({ offset < $0 }) ?? true {
            guard let chunk = state.freeBuffer(capacity: chunkByteCount) else { return }
            chunk.byteCount = 0
            // The first range may run past the object's end (servers answer with what there is); later ones stop at it.
            let range = offset..<min(offset + Int64(chunkByteCount), objectByteCount ?? .max)
            let info: S3ObjectInfo
            do {
                info = try client.getObject(address, range: range) { bytes in
                    if state.closed { throw Closed() }
                    let room = chunk.memory.count - chunk.byteCount
                    guard bytes.count <= room else {
                        throw S3ObjectSourceFailure("the server sent more than the \(chunkByteCount) bytes asked for at offset \(offset)")
                    }
                    UnsafeMutableRawBufferPointer(rebasing: chunk.memory[chunk.byteCount...]).copyMemory(from: bytes)
                    chunk.byteCount += bytes.count
                }
            } catch let error as S3Error where offset == 0 && error.code == "InvalidRange" {
                // A range starting at byte 0 is unsatisfiable only for an empty object.
                state.finish(.end)
                return
            } catch is Closed {
                return
            } catch {
                state.finish(.failure(inputError(error)))
                return
            }
            if let etag, info.etag != etag {
                state.finish(.failure(InputError(name: address.description, reason: "the object was replaced while it was read (its ETag "
                    + "changed from \(etag) to \(info.etag)); read it again once it stays put")))
                return
            }
            etag = info.etag
            let expected = min(Int64(chunkByteCount), info.byteCount - offset)
            guard Int64(chunk.byteCount) == expected, expected > 0 else {
                state.finish(.failure(InputError(name: address.description, reason: "a ranged GET at offset \(offset) of the "
                    + "\(info.byteCount)-byte object gave \(chunk.byteCount) bytes, not \(max(0, expected))")))
                return
            }
            objectByteCount = info.byteCount
            offset += Int64(chunk.byteCount)
            state.deliver(chunk)
        }
        state.finish(.end)
    }

    /// The reader's error for a failed GET: the object and S3's code in a sentence, with what to do for the usual ones.
    private func inputError(_ error: any Error) -> InputError {
        guard let error = error as? S3Error else {
            return InputError(name: address.description, reason: "cannot be read: \(error)")
        }
        let status = error.httpStatus.map { " (HTTP \($0))" } ?? ""
        let attempts = error.attempts > 1 ? " after \(error.attempts) attempts" : ""
        let message = error.message.isEmpty ? "" : ": \(error.message)"
        let hint = S3ObjectSource.remedy(forCode: error.code).map { "; \($0)" } ?? ""
        var reason = "cannot be read from object storage\(attempts): \(error.code)\(status)\(message)"
        if reason.hasSuffix(".") { reason.removeLast() }
        return InputError(name: address.description, reason: reason + hint)
    }
}

extension S3ObjectSource {
    /// What a person can do about an S3 error code that refuses a read, or `nil`.
    static func remedy(forCode code: String) -> String? {
        switch code {
        case "NoSuchKey": "no object has this key: check its spelling (aws s3 ls lists the prefix)"
        case "NoSuchBucket": "the bucket does not exist at this endpoint: check its name, AWS_ENDPOINT_URL and AWS_REGION"
        case "SignatureDoesNotMatch": "the secret access key does not match the access key: check AWS_SECRET_ACCESS_KEY (or the profile's)"
        case "InvalidAccessKeyId": "the server knows no such access key: check AWS_ACCESS_KEY_ID (or the profile's)"
        case "AccessDenied": "these credentials may not read this object"
        case "ExpiredToken": "the session token has expired: get new credentials"
        default: nil
        }
    }
}

/// A read that went wrong on DeltaTape's side of the wire.
private struct S3ObjectSourceFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
