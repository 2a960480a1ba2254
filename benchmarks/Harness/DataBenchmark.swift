import Foundation
import GraftData

/// Every JPEG under a folder (recursively, sorted), unlabelled: the input of the JPEG benchmark.
struct JPEGFileList: Dataset {
    let urls: [URL]
    var count: Int { urls.count }
    var classNames: [String] { ["all"] }
    func label(_ index: Int) -> Int { 0 }
    func itemName(_ index: Int) -> String { urls[index].path }
    func loadImage(_ index: Int, options: JPEGDecodeOptions) throws -> RGB8Image {
        try JPEG.decode(contentsOf: urls[index], options: options)
    }
    var decodesJPEG: Bool { true }

    init(folder: URL) {
        let jpegExtensions: Set<String> = ["jpg", "jpeg", "jpe", "jfif"]
        var found: [URL] = []
        if let walker = FileManager.default.enumerator(
            at: folder, includingPropertiesForKeys: nil,
            options: [.skipsHiddenFiles])
        {
            for case let url as URL in walker where jpegExtensions.contains(url.pathExtension.lowercased()) {
                found.append(url)
            }
        }
        urls = found.sorted { $0.path < $1.path }
    }
}

/// Decoded + transformed images per second over every JPEG in `folder`: JPEG decode →
/// Resize(256) → CenterCrop(224) → ToTensor + Normalize, batched by `BatchLoader` with its 2
/// background workers — the same work `benchmarks/pillow.py` times with Pillow + torchvision.
/// One untimed pass first warms the page cache, so both sides read files from memory.
/// With `augment`, the training pipeline of that preset instead (Resize(256) →
/// RandomResizedCrop(224) → flip → the preset's ops → ToTensor + Normalize), as a run with
/// `--augment PRESET --image-size 224` on an ImageFolder builds it.
/// - Parameter dctScaling: let libjpeg decode large photos at 1/2, 1/4 or 1/8 (not Pillow-exact).
/// - Throws: `DataError.emptyDataset` when the folder holds no JPEG.
func runDataBenchmark(
    folder: URL, batch: Int, dctScaling: Bool = false, augment: Augmentation.Preset? = nil
)
    throws -> (imagesPerSecond: Double, images: Int, seconds: Double, failed: Int)
{
    let files = JPEGFileList(folder: folder)
    guard files.count > 0 else { throw DataError.emptyDataset(path: folder.path, detail: "no JPEG files") }
    for url in files.urls { _ = try? Data(contentsOf: url) }
    let failures = FailureLog { _ in }
    var transform = try TransformPipeline.eval(resize: 256, crop: 224)
    if let augment {
        var spec = DataSpecification(source: folder.path, imageSize: 224)
        spec.setAugmentation(Augmentation(preset: augment))
        transform = try TransformPipeline(ops: spec.trainingOps)
    }
    let loader = try BatchLoader(
        dataset: files, transform: transform,
        options: .init(batchSize: max(1, batch), shuffle: false, workers: 2, prefetch: 4, dctScaling: dctScaling),
        failures: failures)
    let start = DispatchTime.now().uptimeNanoseconds
    var images = 0
    let batches = loader.prefetching(epoch: 0)
    while let b = try batches.nextBatch() { images += b.labels.count }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    return (Double(images) / seconds, images, seconds, failures.entries.count)
}
