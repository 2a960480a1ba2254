import Foundation
import GraftTensor
import Testing
@testable import GraftWeights

/// New weights files use HDF5's 1.8 format, whose metadata is checksummed: a damaged file then
/// fails a checksum instead of leading libhdf5 through corrupt metadata.
@Suite struct WeightsFormatTests {
    @Test("files are written with superblock version 2 and read back")
    func checksummedFormat() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("graft-format-\(UUID().uuidString).h5")
        defer { try? FileManager.default.removeItem(at: url) }
        var state = StateDict()
        state["w"] = .float(Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6]))
        try WeightsFile.write(
            state,
            attributes: WeightsAttributes(
                modelID: "m", architecture: "vanilla-cnn", numClasses: 2, inputSize: [3, 16, 16],
                mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]), to: url)
        let header = try Data(contentsOf: url).prefix(9)
        #expect(Array(header.prefix(8)) == [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a])
        #expect(header.last == 2, "superblock version")
        let (read, _) = try WeightsFile.read(url)
        #expect(read["w"] == state["w"])
    }
}
