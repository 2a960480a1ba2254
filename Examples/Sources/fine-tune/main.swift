// Fine-tunes a zoo model on an ImageFolder and records the run in a catalog.
//
//   fine-tune PHOTOS CATALOG [EPOCHS]
import Foundation
import Graft

let arguments = CommandLine.arguments.dropFirst()
guard arguments.count >= 2 else {
    print("usage: fine-tune PHOTOS CATALOG [EPOCHS]")
    exit(2)
}
let photos = URL(fileURLWithPath: arguments[arguments.startIndex])
let epochs = arguments.count > 2 ? Int(arguments[arguments.startIndex + 2]) ?? 4 : 4

do {
    let zoo = try Zoo.shipped()
    var tuning = try FineTuning(model: zoo.card(id: "vanilla-cnn"), data: .imageFolder(photos), imageSize: 32)
    tuning.catalog = try Catalog.open(at: arguments[arguments.startIndex + 1])
    tuning.trainable = [.block3, .block4, .head]
    tuning.optimizer = OptimizerConfig(kind: .adam)
    tuning.schedule = .triangular(1e-4, 1e-3, stepSize: .epochs(1))
    tuning.batchSize = 4
    let tuned = try tuning.fit(epochs: epochs) { event in
        if case .epochEnded(let metrics, let planned, _) = event {
            let accuracy = metrics.validationAccuracy.map { String(format: "%.3f", $0) } ?? "-"
            print(
                "epoch \(metrics.epoch)/\(planned): train loss \(String(format: "%.4f", metrics.trainLoss)), val acc \(accuracy)"
            )
        }
    }
    let best = try tuned.bestCheckpoint()
    print("run \(tuned.runId): best checkpoint \(best.checkpoint.id!) (epoch \(best.checkpoint.epoch))")
    print("validation accuracy \(String(format: "%.3f", try tuned.evaluate().accuracy))")
} catch {
    print("error: \(error.localizedDescription)")
    exit(1)
}
