import ArgumentParser
import GraftTraining

/// mixup, CutMix and weight EMA: the regularisers `train` and `compare` share.
struct RegulariserOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "mixup: blend each training batch with itself rolled by one, weight lam ~ Beta(ALPHA, ALPHA).",
            discussion:
                "torchvision v2's MixUp: soft one-hot targets mixed with the same lam, the loss their cross-entropy (with --label-smoothing on top). Turns the feature cache off.",
            valueName: "alpha"))
    var mixup: Double?
    @Option(
        help: ArgumentHelp(
            "CutMix: paste a box of the batch rolled by one, its area from lam ~ Beta(ALPHA, ALPHA).",
            discussion:
                "torchvision v2's CutMix; labels weighted by the area pasted. With --mixup as well, each batch uses one of the two, picked with even odds.",
            valueName: "alpha"))
    var cutmix: Double?
    @Option(
        help: ArgumentHelp(
            "Keep an exponential moving average of the weights and buffers, updated after every step.",
            discussion:
                "PyTorch's AveragedModel with get_ema_multi_avg_fn(DECAY), use_buffers=True. Its validation loss and accuracy are recorded each epoch beside the plain ones, and it is saved in every checkpoint (graft ckpt export --ema, graft models publish --ema).",
            valueName: "decay"))
    var ema: Double?

    /// Sets the configuration's fields; `RunConfiguration.validate()` checks their ranges.
    func apply(to configuration: inout RunConfiguration) {
        configuration.mixupAlpha = mixup
        configuration.cutmixAlpha = cutmix
        configuration.emaDecay = ema
    }
}
