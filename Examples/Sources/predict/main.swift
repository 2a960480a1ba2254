// Class probabilities for photos from a run's best checkpoint.
//
//   predict CATALOG RUN PHOTO...
import Foundation
import Graft

let arguments = CommandLine.arguments
guard arguments.count >= 4, let run = Int64(arguments[2]) else {
    print("usage: predict CATALOG RUN PHOTO...")
    exit(2)
}
do {
    let catalog = try Catalog.open(at: arguments[1])
    guard let best = try catalog.bestCheckpoint(by: .valAcc, filter: CheckpointFilter(run: run)) else {
        print("error: run \(run) has no checkpoint with a validation accuracy")
        exit(1)
    }
    let predictor = try Predictor(checkpoint: best.checkpoint.id!, in: catalog)
    for prediction in try predictor.predict(arguments[3...].map { URL(fileURLWithPath: $0) }, top: 3) {
        print(prediction.image)
        for entry in prediction.top {
            print("  \(String(format: "%6.2f%%", entry.probability * 100)) \(entry.className)")
        }
    }
} catch {
    print("error: \(error.localizedDescription)")
    exit(1)
}
