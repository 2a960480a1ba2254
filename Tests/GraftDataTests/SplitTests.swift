import Foundation
import GraftData
import Testing
import TestSupport

@Suite("Splits and statistics")
struct SplitTests {
    @Test("stratified: per-class counts, disjoint, complete, seeded")
    func stratified() {
        let labels = (0..<1000).map { $0 % 7 == 0 ? 0 : ($0 % 3 == 0 ? 1 : 2) }
        let (train, val) = DataSplit.stratified(labels: labels, valFraction: 0.2, seed: 0)
        #expect(Set(train).isDisjoint(with: val))
        #expect(Set(train).union(val) == Set(0..<1000))
        for c in 0..<3 {
            let n = labels.filter { $0 == c }.count
            let nVal = val.filter { labels[$0] == c }.count
            #expect(nVal == Int((0.2 * Double(n)).rounded()), "class \(c)")
        }
        let again = DataSplit.stratified(labels: labels, valFraction: 0.2, seed: 0)
        #expect(again.train == train && again.val == val)
        let other = DataSplit.stratified(labels: labels, valFraction: 0.2, seed: 1)
        #expect(other.val != val)
        #expect(train == train.sorted() && val == val.sorted())
    }

    @Test("split file round trip on the fixture folder")
    func splitFile() throws {
        let folder = try ImageFolder(root: Fixtures.url("imagefolder"))
        let split = try DataSplit.make(folder, root: Fixtures.url("imagefolder"), valFraction: 0.25, seed: 3)
        #expect(split.val.count == 3 && split.train.count == 9)
        #expect(Set(split.val.map { $0.split(separator: "/")[0] }) == ["daisy", "rose", "tulip"])
        let dir = try TemporaryDirectory.make("graft-data-tests")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("split.json")
        try split.write(to: url)
        let back = try DataSplit.read(from: url)
        #expect(back == split)
        #expect(back.matches(folder))
        let (t, v) = try back.indices(in: folder)
        #expect(t.map(folder.itemName) == split.train && v.map(folder.itemName) == split.val)
        #expect(ChannelStats.url(forSplit: url).lastPathComponent == "split.stats.json")
        #expect(throws: DataError.self) { try DataSplit.make(folder, root: dir, valFraction: 1.5) }
    }

    @Test("channel statistics equal a direct computation")
    func stats() throws {
        let data = MemoryDataset.gradient(count: 6, classes: 2, size: 9)
        let stats = try ChannelStats.compute(data, indices: [0, 2, 3, 5])
        for c in 0..<3 {
            var values: [Double] = []
            for i in [0, 2, 3, 5] {
                let p = data.images[i].pixels
                for j in stride(from: c, to: p.count, by: 3) { values.append(Double(p[j]) / 255) }
            }
            let mean = values.reduce(0, +) / Double(values.count)
            let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
            #expect(abs(stats.mean[c] - mean) < 1e-12 && abs(stats.std[c] - std) < 1e-12)
        }
        #expect(stats.images == 4)
    }
}
