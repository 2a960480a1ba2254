import Foundation
import FuzzSupport
import GraftWeights

/// Fuzzes `Safetensors.load`: the header, its JSON and the offset checks.
let scratch = FuzzHarness.scratchFile(named: "input.safetensors")

func fuzzOne(_ input: UnsafeRawBufferPointer) {
    FuzzHarness.read(input, through: scratch) { FuzzHarness.touch(try Safetensors.load($0)) }
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
