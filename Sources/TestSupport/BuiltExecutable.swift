import Foundation

/// An executable of this package built next to the test bundle.
public func builtExecutable(_ name: String) -> URL? {
    var candidates: [URL] = []
    let arg0 = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    candidates.append(arg0.deletingLastPathComponent())
    candidates.append(Bundle.main.bundleURL)
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
    for dir in candidates {
        var d = dir
        // Walk up out of an .xctest bundle if needed.
        for _ in 0..<4 {
            let exe = d.appendingPathComponent(name)
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: exe.path, isDirectory: &isDir), !isDir.boolValue,
                FileManager.default.isExecutableFile(atPath: exe.path)
            {
                return exe
            }
            d = d.deletingLastPathComponent()
        }
    }
    return nil
}
