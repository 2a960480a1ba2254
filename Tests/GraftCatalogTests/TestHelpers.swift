import Foundation
import TestSupport
import GRDB
@testable import GraftCatalog

func makeRun(
    _ catalog: Catalog, optimizer: String = "adam", name: String? = nil, comparison: Int64? = nil,
    split: Int64? = nil
) throws -> RunRecord {
    try catalog.createRun(
        RunRecord(
            name: name, modelId: "vanilla-cnn", optimizer: optimizer,
            optimizerParams: #"{"lr":0.001}"#, schedule: "constant", seed: 1,
            batchSize: 32, epochsPlanned: 10, comparisonId: comparison))
}

/// Saves a checkpoint whose file holds `content`.
@discardableResult
func saveCheckpoint(
    _ catalog: Catalog, run: Int64, epoch: Int, valAcc: Double?, valLoss: Double? = nil,
    minimum: Bool = false, content: String? = nil
) throws -> CheckpointRecord {
    let draft = CheckpointRecord(
        runId: run, epoch: epoch, globalStep: Int64(epoch * 100), lr: 0.01,
        cycleIndex: epoch / 2, isMinimum: minimum, valLoss: valLoss, valAcc: valAcc,
        reasons: minimum ? [.periodic, .minimum] : [.periodic])
    let text = content ?? "checkpoint run \(run) epoch \(epoch)"
    return try catalog.saveCheckpoint(draft) { temp in try Data(text.utf8).write(to: temp) }
}

/// Runs a command and returns its standard output.
func shell(_ executable: String, _ arguments: [String]) throws -> String {
    try ChildProcess.run(URL(fileURLWithPath: executable), arguments).stdout
}

/// The `graft` binary for the command-line tests: skipped, saying why, where it was not built
/// next to the tests; a failure with `CI=true`.
let graftBinaryPrerequisite = Prerequisite(
    "the graft binary",
    problem: graftBinary() == nil ? "not found next to the tests (build with --build-tests, or set GRAFT_BIN)" : nil)

/// The catalog's stress workload (`Tests/CatalogStress`) for the multi-process tests.
let stressBinaryPrerequisite = Prerequisite(
    "the graft-catalog-stress binary",
    problem: builtExecutable("graft-catalog-stress") == nil
        ? "not found next to the tests (build with --build-tests)" : nil)

/// The `graft` binary built next to the test bundle (`swift build --build-tests` builds it), or
/// `$GRAFT_BIN`.
func graftBinary() -> URL? {
    if let env = ProcessInfo.processInfo.environment["GRAFT_BIN"] { return URL(fileURLWithPath: env) }
    return builtExecutable("graft")
}
