import Foundation
import GraftCatalog

// graft-catalog-stress --catalog PATH|URL [--rows N] [--tag NAME] [--with-files DIR] [--progress]
// Writes `rows` epoch rows (and, with --with-files, a checkpoint file per row) to one run named
// `tag`, then prints one summary line. The reliability tests start several at once, or kill one.
// Dies with the test that started it: a test run stopped half-way must not leave a writer
// filling the disk with a million checkpoints.
let parent = getppid()
Thread.detachNewThread {
    while getppid() == parent { usleep(200_000) }
    exit(3)
}
let arguments = Array(CommandLine.arguments.dropFirst())
func value(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
guard let path = value("--catalog") else {
    FileHandle.standardError.write(
        Data(
            "usage: graft-catalog-stress --catalog PATH|URL [--rows N] [--tag NAME] [--with-files DIR] [--progress]\n"
                .utf8)
    )
    exit(2)
}
let rows = value("--rows").flatMap(Int.init) ?? 100
let tag = value("--tag") ?? "stress"
let progress = arguments.contains("--progress")
do {
    let catalog = try Catalog.open(location: path)
    let summary = try CatalogStress.run(
        catalog: catalog, rows: rows, tag: tag, filesDirectory: value("--with-files").map { URL(fileURLWithPath: $0) },
        progress: { n in if progress { print("row \(n)"); fflush(nil) } })
    print("run \(summary.runId) \(tag): \(summary.epochRows) epoch rows, \(summary.checkpoints) checkpoints")
} catch {
    FileHandle.standardError.write(Data("graft-catalog-stress: \(error.localizedDescription)\n".utf8))
    exit(1)
}
