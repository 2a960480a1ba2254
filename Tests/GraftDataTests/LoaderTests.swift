import Foundation
import GraftData
import GraftTensor
import Testing
import TestSupport

@Suite("BatchLoader")
struct LoaderTests {
    static func collect(_ batches: EpochBatches) throws -> [LabeledBatch] {
        var out: [LabeledBatch] = []
        while let b = try batches.nextBatch() { out.append(b) }
        return out
    }

    static func same(_ a: [LabeledBatch], _ b: [LabeledBatch]) -> Bool {
        a.count == b.count
            && zip(a, b).allSatisfy {
                $0.images.isBitwiseEqual(to: $1.images) && $0.labels == $1.labels && $0.ids == $1.ids
            }
    }

    @Test("order is a seeded permutation that changes with the epoch")
    func order() throws {
        let data = MemoryDataset.gradient(count: 50, classes: 5)
        let pipeline = try TransformPipeline(ops: [.centerCrop(size: 32)])
        let loader = try BatchLoader(dataset: data, transform: pipeline, options: .init(batchSize: 8, seed: 11))
        let o0 = loader.order(epoch: 0)
        #expect(o0.sorted() == Array(0..<50))
        #expect(
            o0
                == (try BatchLoader(dataset: data, transform: pipeline, options: .init(batchSize: 8, seed: 11))).order(
                    epoch: 0))
        #expect(o0 != loader.order(epoch: 1))
        #expect(
            o0
                != (try BatchLoader(dataset: data, transform: pipeline, options: .init(batchSize: 8, seed: 12))).order(
                    epoch: 0))
        let sequential = try BatchLoader(
            dataset: data, transform: pipeline, options: .init(batchSize: 8, shuffle: false))
        #expect(sequential.order(epoch: 3) == Array(0..<50))
        #expect(loader.batchesPerEpoch == 7)
    }

    @Test("same seed, same batches; resuming at a position gives the rest of the run")
    func reproducible() throws {
        let data = MemoryDataset.gradient(count: 45, classes: 3)
        let pipeline = try TransformPipeline.train(
            size: 24, extra: [.colorJitter(brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0)])
        let options = BatchLoader.Options(batchSize: 8, seed: 5, workers: 2, prefetch: 2)
        let a = try BatchLoader(dataset: data, transform: pipeline, options: options)
        let b = try BatchLoader(
            dataset: data, transform: pipeline, options: .init(batchSize: 8, seed: 5, workers: 1, prefetch: 1))
        let runA = try Self.collect(a.prefetching(epoch: 1))
        let runB = try Self.collect(b.prefetching(epoch: 1))
        #expect(runA.count == 6 && runA.last?.labels.count == 5)
        #expect(runA[0].images.shape == [8, 3, 24, 24])
        #expect(Self.same(runA, runB))
        #expect(runA.flatMap { $0.ids! } == a.order(epoch: 1))
        #expect(runA.flatMap(\.labels) == a.order(epoch: 1).map { $0 % 3 })
        // Resume from a saved position.
        let first = a.prefetching(epoch: 1)
        _ = try first.nextBatch()
        _ = try first.nextBatch()
        let saved = first.position
        #expect(saved == LoaderPosition(epoch: 1, batch: 2))
        let resumed = try Self.collect(b.prefetching(from: saved))
        #expect(Self.same(resumed, Array(runA[2...])))
        // Another epoch differs.
        let other = try Self.collect(a.prefetching(epoch: 2))
        #expect(!Self.same(other, runA))
        // A batch equals the same images transformed by hand with the documented seeds.
        let single = try a.makeBatch(epoch: 1, index: 3)
        #expect(single.images.isBitwiseEqual(to: runA[3].images))
    }

    @Test("the cache holds the deterministic prefix and leaves batches unchanged")
    func cache() throws {
        let data = MemoryDataset.gradient(count: 20, classes: 2)
        let pipeline = try TransformPipeline.train(size: 16, preResize: 20)
        #expect(pipeline.deterministicPrefixCount == 1)
        let plain = try BatchLoader(dataset: data, transform: pipeline, options: .init(batchSize: 6, seed: 2))
        let cached = try BatchLoader(
            dataset: data, transform: pipeline,
            options: .init(batchSize: 6, seed: 2, cacheBytes: 1 << 20))
        for epoch in 0..<2 {
            #expect(
                Self.same(
                    try Self.collect(plain.prefetching(epoch: epoch)),
                    try Self.collect(cached.prefetching(epoch: epoch))))
        }
        #expect(cached.cache?.count == 20)
        #expect(cached.cache?.get(0)?.height == 20)
    }

    @Test("unreadable images are skipped and reported once across epochs")
    func failures() throws {
        let root = try ImageFolderTests.messyFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = try ImageFolder(root: root)
        let reports = Counter()
        let log = FailureLog { _ in reports.increment() }
        let loader = try BatchLoader(
            dataset: folder, transform: try .eval(resize: 64, crop: 56),
            options: .init(batchSize: 2, seed: 0), failures: log)
        // Six images pass the scan (the PNG named .jpg among them); the truncated one (index 5)
        // fails at decode time.
        for epoch in 0..<3 {
            let batches = try Self.collect(loader.prefetching(epoch: epoch))
            #expect(batches.flatMap(\.labels).count == 5)
            #expect(!batches.flatMap { $0.ids! }.contains(5))
        }
        #expect(log.entries.count == 1 && log.entries[0].name == "beta/truncated.jpg")
        #expect(log.entries[0].reason.contains("truncated"))
        #expect(reports.value == 1)
    }

    @Test("dropping an iterator early stops its workers")
    func earlyStop() throws {
        let data = MemoryDataset.gradient(count: 64, classes: 2)
        let loader = try BatchLoader(
            dataset: data, transform: try .eval(resize: 32, crop: 32),
            options: .init(batchSize: 4, prefetch: 2))
        for _ in 0..<5 {
            let it = loader.prefetching(epoch: 0)
            _ = try it.nextBatch()
        }
        #expect(try Self.collect(loader.prefetching(epoch: 0)).count == 16)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func increment() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}
