import Foundation
import GraftSupport

/// Everything that can go wrong reading image data. Each case names the file or value at fault,
/// so a loader can report a bad file in one line and carry on with the rest.
public enum DataError: LocalizedError, Equatable, Sendable {
    /// The file has zero bytes.
    case emptyFile(path: String)
    /// The file is a known image format Graft does not decode (GIF, BMP, TIFF, WebP, HEIF),
    /// whatever its name says.
    case unsupportedFormat(path: String, format: String)
    /// A decoder for one format (`JPEG`, `PNG`) was handed a file in the other: `ImageFile`
    /// picks the right one by the first bytes.
    case formatMismatch(path: String, found: String, expected: String)
    /// The bytes are not an image at all (plain text, random data).
    case notAnImage(path: String, detail: String)
    /// The JPEG or PNG data ends before the last row of the image.
    case truncated(path: String, detail: String)
    /// libjpeg or libpng rejected the data.
    case corrupt(path: String, detail: String)
    /// The JPEG uses a colour space this loader does not convert.
    case unsupportedColorSpace(path: String, detail: String)
    /// A file could not be read or written; `cause` is the system's error, when there is one.
    case io(path: String, detail: String, cause: ErrorCause? = nil)
    /// A JPEG could not be written.
    case encodeFailed(path: String, detail: String)
    /// A gzip stream could not be inflated.
    case gzip(path: String, detail: String)
    /// An IDX file (MNIST format) has a bad header or size.
    case badIDX(path: String, detail: String)
    /// A dataset folder has no class subfolders, or a class has no images.
    case emptyDataset(path: String, detail: String)
    /// A split or stats file does not fit the dataset it is used with.
    case splitMismatch(path: String, detail: String)
    /// A split or stats file cannot be parsed.
    case badSplitFile(path: String, detail: String)
    /// A parameter is out of range (a transform size, a fraction, a class name).
    case invalidArgument(String)
    /// A folder whose class subfolders are not a model's classes.
    case classMismatch(path: String, missing: [String], extra: [String])
    /// Images in one batch came out of the transform with different sizes.
    case inconsistentBatch(detail: String)

    public var errorDescription: String? {
        switch self {
        case .emptyFile(let path): "\(path): empty file (0 bytes), not an image"
        case .unsupportedFormat(let path, let format):
            "\(path): is a \(format), not a JPEG or PNG (the formats Graft decodes)"
        case .formatMismatch(let path, let found, let expected): "\(path): is a \(found), not a \(expected)"
        case .notAnImage(let path, let detail): "\(path): not an image: \(detail)"
        case .truncated(let path, let detail): "\(path): truncated image (\(detail)); no partial image is returned"
        case .corrupt(let path, let detail): "\(path): corrupt image: \(detail)"
        case .unsupportedColorSpace(let path, let detail): "\(path): \(detail)"
        case .io(let path, let detail, let cause): "\(path): \(detail)" + (cause.map { ": \($0)" } ?? "")
        case .encodeFailed(let path, let detail): "\(path): cannot encode JPEG: \(detail)"
        case .gzip(let path, let detail): "\(path): cannot decompress: \(detail)"
        case .badIDX(let path, let detail): "\(path): bad IDX file: \(detail)"
        case .emptyDataset(let path, let detail): "\(path): \(detail)"
        case .splitMismatch(let path, let detail): "\(path): \(detail)"
        case .badSplitFile(let path, let detail): "\(path): cannot read split file: \(detail)"
        case .invalidArgument(let detail): detail
        case .classMismatch(let path, let missing, let extra):
            "\(path): its class folders are not the model's classes"
                + (missing.isEmpty ? "" : "; missing: \(missing.joined(separator: ", "))")
                + (extra.isEmpty ? "" : "; not the model's: \(extra.joined(separator: ", "))")
        case .inconsistentBatch(let detail): detail
        }
    }
}
