import Foundation
import FuzzSupport
import GraftWeights

/// Fuzzes the HDF5 weights reader: `WeightsFile.read`, `entries`, `groupNames` and `readGroup`.
/// libhdf5 opens files by path, so each input is written to a scratch file first.
let scratch = FuzzHarness.scratchFile(named: "input.h5")

func fuzzOne(_ input: UnsafeRawBufferPointer) {
    FuzzHarness.read(input, through: scratch) { FuzzHarness.touch(try WeightsFile.read($0).state) }
    FuzzHarness.expectNamed(path: scratch.path) {
        for e in try WeightsFile.entries(in: scratch) { precondition(e.shape.allSatisfy { $0 >= 0 }) }
    }
    FuzzHarness.expectNamed(path: scratch.path) {
        for name in try WeightsFile.groupNames(in: scratch) {
            FuzzHarness.touch(try WeightsFile.readGroup(name, from: scratch).arrays)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

#if !FUZZING
@main enum Replay {
    static func main() { exit(FuzzHarness.replay(CommandLine.arguments.dropFirst(), fuzzOne)) }
}
#endif
