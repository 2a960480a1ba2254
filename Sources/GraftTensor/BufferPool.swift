#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Allocates large tensor buffers and recycles them between training steps, without raising the
/// process's peak memory.
///
/// A step allocates the same activation and gradient sizes every time; returning those buffers
/// to the system and faulting fresh zeroed pages back in cost ~10% of a ResNet34 transfer step
/// (the kernel's page clearing). Freed buffers of at least `minimumBytes` wait here, keyed by
/// exact size, for the next allocation of that size.
///
/// Idle buffers are resident memory, so they are bounded by the pool's own history: idle bytes
/// never exceed the highest number of bytes ever in use at once minus the bytes in use now.
/// In use plus idle therefore never passes that high-water mark, and the pool moves the process's
/// peak by nothing (an unbounded pool added 70–250 MB to the benchmark workloads' peaks: buffers
/// of the backward pass's sizes sat idle while the forward pass peaked). Where two phases of a
/// step both come near the mark, buffers are evicted and faulted in again each step (2–3× the
/// page faults of an unbounded pool; about 7% of an eval step). Idle bytes are also
/// capped at `capacity` (oldest returned to the system first). `GRAFT_BUFFER_POOL_MB` sets the
/// cap (default 1 GiB); 0 turns recycling off.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool(
        capacity: {
            if let v = getenv("GRAFT_BUFFER_POOL_MB"), let mb = Int(String(cString: v)), mb >= 0 { return mb << 20 }
            return 1 << 30
        }())

    static let minimumBytes = 1 << 20

    let capacity: Int
    private var idle: [(bytes: Int, pointer: UnsafeMutableRawPointer)] = []
    private var idleBytes = 0
    private var bytesInUse = 0
    private var highWater = 0
    private var mutex = pthread_mutex_t()

    init(capacity: Int) {
        self.capacity = capacity
        pthread_mutex_init(&mutex, nil)
    }

    /// A buffer of `bytes`: a recycled one of exactly that size when there is one, else a fresh
    /// one, at least 64-byte-aligned. Give it back with `release(_:bytes:)`.
    func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        guard bytes >= Self.minimumBytes else { return Self.fresh(bytes) }
        pthread_mutex_lock(&mutex)
        bytesInUse += bytes
        highWater = max(highWater, bytesInUse)
        var recycled: UnsafeMutableRawPointer? = nil
        if let i = idle.lastIndex(where: { $0.bytes == bytes }) {
            idleBytes -= bytes
            recycled = idle.remove(at: i).pointer
        }
        let evicted = trim(to: highWater - bytesInUse)
        pthread_mutex_unlock(&mutex)
        for e in evicted { Self.free(e.pointer, bytes: e.bytes) }
        return recycled ?? Self.fresh(bytes)
    }

    /// Takes back a buffer from `allocate(bytes:)`, keeping it for reuse or freeing it.
    func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        guard bytes >= Self.minimumBytes else { return Self.free(pointer, bytes: bytes) }
        pthread_mutex_lock(&mutex)
        bytesInUse -= bytes
        var evicted: [(bytes: Int, pointer: UnsafeMutableRawPointer)] = [(bytes, pointer)]
        if bytes <= capacity {
            idle.append((bytes, pointer))
            idleBytes += bytes
            evicted = trim(to: highWater - bytesInUse)
        }
        pthread_mutex_unlock(&mutex)
        for e in evicted { Self.free(e.pointer, bytes: e.bytes) }
    }

    /// Drops the oldest idle buffers until idle bytes fit both `limit` and the cap; returns them
    /// for the caller to free outside the lock.
    private func trim(to limit: Int) -> [(bytes: Int, pointer: UnsafeMutableRawPointer)] {
        var evicted: [(bytes: Int, pointer: UnsafeMutableRawPointer)] = []
        while idleBytes > min(limit, capacity), !idle.isEmpty {
            let oldest = idle.removeFirst()
            idleBytes -= oldest.bytes
            evicted.append(oldest)
        }
        return evicted
    }

    /// A new buffer. Large ones are mapped from the system directly, not taken from malloc: freed,
    /// they go straight back (glibc keeps freed blocks of up to 32 MB in its heap, resident and out
    /// of the pool's account — 100 MB of them in a ResNet34 transfer step). From 4 MB on they are
    /// 2 MB-aligned and advised onto transparent huge pages.
    private static func fresh(_ bytes: Int) -> UnsafeMutableRawPointer {
        guard bytes >= minimumBytes else { return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64) }
        let length = mappedLength(bytes)
        let align = bytes >= HugePages.threshold ? HugePages.size : 4096
        let span = length + align - 4096
        guard let base = mmap(nil, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED
        else { fatalError("out of memory: could not map \(bytes) bytes") }
        let start = (Int(bitPattern: base) + align - 1) / align * align
        let head = start - Int(bitPattern: base), tail = span - head - length
        if head > 0 { munmap(base, head) }
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: start + length), tail) }
        let pointer = UnsafeMutableRawPointer(bitPattern: start)!
        HugePages.advise(pointer, bytes: bytes)
        return pointer
    }

    private static func free(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
        if bytes >= minimumBytes { munmap(pointer, mappedLength(bytes)) } else { pointer.deallocate() }
    }

    private static func mappedLength(_ bytes: Int) -> Int { (bytes + 4095) / 4096 * 4096 }

    /// Returns every idle buffer to the system.
    func drain() {
        pthread_mutex_lock(&mutex)
        let all = idle
        idle = []
        idleBytes = 0
        pthread_mutex_unlock(&mutex)
        for entry in all { Self.free(entry.pointer, bytes: entry.bytes) }
    }

    /// Bytes waiting for reuse.
    var bytesIdle: Int { locked { idleBytes } }

    /// Bytes of large buffers handed out and not yet released, and the most there ever were.
    var usage: (inUse: Int, highWater: Int) { locked { (bytesInUse, highWater) } }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }
}
