import GraftNN
import GraftTensor

/// The study's small CNN: four conv(3×3)–BN–ReLU–maxpool(2) blocks (32, 64, 128, 256 channels),
/// adaptive average pooling to 2×2, then Flatten–Dropout–Linear(1024, 256)–ReLU–Dropout–Linear.
/// Keys match the PyTorch definition (`features.0.weight` … `classifier.5.bias`).
public final class VanillaCNN: Module {
    public let features: Sequential
    public let pool = AdaptiveAvgPool2d(2)
    public private(set) var classifier: Sequential
    private var chain: Chain

    public init(numClasses: Int = 5, dropout: Float = 0.5, seed: UInt64 = 0) {
        var rng = RandomGenerator(seed: seed)
        var layers: [Module] = []
        var inChannels = 3
        for out in [32, 64, 128, 256] {
            layers += [
                Conv2d(inChannels, out, kernel: 3, padding: 1, rng: &rng), BatchNorm2d(out), ReLU(),
                MaxPool2d(kernel: 2),
            ]
            inChannels = out
        }
        features = Sequential(layers)
        classifier = VanillaCNN.makeClassifier(numClasses: numClasses, dropout: dropout, rng: &rng, seed: seed)
        chain = Chain([])
        super.init()
        chain = Chain([features, pool, classifier])
    }

    private static func makeClassifier(
        numClasses: Int, dropout: Float, rng: inout RandomGenerator,
        seed: UInt64
    ) -> Sequential {
        Sequential([
            Flatten(), Dropout(dropout, seed: seed &+ 1), Linear(1024, 256, rng: &rng), ReLU(),
            Dropout(dropout, seed: seed &+ 2), Linear(256, numClasses, rng: &rng),
        ])
    }

    public override var children: [(name: String, module: Module)] {
        [("features", features), ("pool", pool), ("classifier", classifier)]
    }

    public override func forward(_ input: Tensor, mode: GradientMode) -> Tensor {
        chain.forward(input, mode: mode)
    }

    public override func backward(_ outputGradient: Tensor) -> Tensor? {
        chain.backward(outputGradient)
    }

    /// The dropout layers, in order (to change `p`, e.g. to 0 for exact comparisons).
    public var dropouts: [Dropout] { classifier.layers.compactMap { $0 as? Dropout } }

    /// Replaces the last classifier layer (`classifier.5`) with a new `Linear(256, numClasses)`.
    public func replaceHead(numClasses: Int, seed: UInt64 = 0) {
        var rng = RandomGenerator(seed: seed)
        var layers = classifier.layers
        layers[5] = Linear(256, numClasses, rng: &rng)
        let isTraining = classifier.isTraining
        classifier = Sequential(layers)
        classifier.train(isTraining)
        chain = Chain([features, pool, classifier])
    }
}
