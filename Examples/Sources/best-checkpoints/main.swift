// The best checkpoint per optimizer in a catalog, by validation accuracy.
//
//   best-checkpoints CATALOG
import Foundation
import Graft

guard CommandLine.arguments.count == 2 else {
    print("usage: best-checkpoints CATALOG")
    exit(2)
}
do {
    let catalog = try Catalog.open(at: CommandLine.arguments[1])
    for best in try catalog.bestCheckpoints(by: .valAcc, perOptimizer: true) {
        let c = best.checkpoint
        print("\(best.optimizer): checkpoint \(c.id!), run \(c.runId), epoch \(c.epoch), val acc \(c.valAcc!)")
    }
} catch {
    print("error: \(error.localizedDescription)")
    exit(1)
}
