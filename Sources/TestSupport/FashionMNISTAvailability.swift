import GraftData

/// Debian's dataset-fashion-mnist (installed by `scripts/install-deps.sh`): tests that need it are
/// skipped, saying why, without it, and fail instead with `CI=true`.
public enum FashionMNISTAvailability {
    public static let train = Prerequisite(
        "Fashion-MNIST (train)",
        problem: FashionMNIST.isAvailable(.train)
            ? nil
            : "Debian's dataset-fashion-mnist is not installed (\(FashionMNIST.defaultDirectory.path))")
    public static let trainAndTest = Prerequisite(
        "Fashion-MNIST (train and test)",
        problem: FashionMNIST.isAvailable(.train) && FashionMNIST.isAvailable(.test)
            ? nil
            : "Debian's dataset-fashion-mnist is not installed (\(FashionMNIST.defaultDirectory.path))")
}
