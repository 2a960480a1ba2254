import GraftData
import GraftNN
import GraftTensor

extension Trainer {
    /// A step on a mixed batch (`BatchMixing`): the batch is mixed by the draw of this global
    /// step, the loss is cross-entropy against its soft targets (with label smoothing on top, as
    /// torchvision's reference script combines them), and a row counts as correct when its
    /// arg-max is the dominant label of its target (`CrossEntropy.dominantLabelHits`).
    func trainMixedStep(_ batch: LabeledBatch, mixing: BatchMixing) -> (loss: Float, correct: Int) {
        let images = batch.images
        let draw = mixing.draw(step: position.globalStep, height: images.size(2), width: images.size(3))
        optimizer.zeroGrad()
        let logits = model.forward(draw.apply(to: images), mode: .parameters)
        let targets = draw.targets(labels: batch.labels, classes: logits.size(1))
        let (loss, gradient) = CrossEntropy.lossAndGradient(
            logits: logits, targets: targets, labelSmoothing: labelSmoothing)
        let correct = CrossEntropy.dominantLabelHits(logits: logits, targets: targets)
        guard loss.isFinite else { return (loss, correct) }
        _ = model.backward(gradient)
        model.clearSaved()
        optimizer.step()
        return (loss, correct)
    }
}
