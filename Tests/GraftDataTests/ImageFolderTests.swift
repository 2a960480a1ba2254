import Foundation
import GraftData
import GraftSupport
import Testing
import TestSupport

@Suite("ImageFolder")
struct ImageFolderTests {
    struct Expected: Decodable {
        struct Sample: Decodable {
            var path: String
            var target: Int
            var size_wh: [Int]
            var sha256: String
        }
        var classes: [String]
        var class_to_idx: [String: Int]
        var num_samples: Int
        var samples: [Sample]
        var skipped_entries: [String]
    }

    @Test("scan matches torchvision's ImageFolder on the fixture tree")
    func matchesTorchvision() throws {
        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: Fixtures.url("imagefolder_expected.json")))
        let folder = try ImageFolder(root: Fixtures.url("imagefolder"))
        #expect(folder.classNames == expected.classes)
        #expect(folder.classToIndex == expected.class_to_idx)
        #expect(folder.count == expected.num_samples)
        #expect(folder.samples.map(\.path) == expected.samples.map(\.path))
        #expect(folder.samples.map(\.label) == expected.samples.map(\.target))
        #expect(folder.samples.map { [$0.width, $0.height] } == expected.samples.map(\.size_wh))
        #expect(folder.skipped == expected.skipped_entries)
        #expect(folder.unreadable.isEmpty)
        for (i, s) in expected.samples.enumerated() {
            let data = try Data(contentsOf: folder.url(i))
            #expect(SHA256.hex(of: data) == s.sha256, "\(s.path)")
        }
        let image = try folder.loadImage(1)
        #expect(image.width == 160 && image.height == 120)
    }

    @Test("SHA-256 known answers")
    func sha256() {
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex(String(repeating: "a", count: 1000))
                == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    /// A folder mixing good images with every bad fixture, hidden files and a non-image.
    static func messyFolder() throws -> URL {
        let root = try TemporaryDirectory.make("graft-data-tests")
        let fm = FileManager.default
        for cls in ["alpha", "beta"] {
            try fm.createDirectory(at: root.appendingPathComponent(cls), withIntermediateDirectories: true)
        }
        func copy(_ fixture: String, _ to: String) throws {
            try fm.copyItem(at: Fixtures.url(fixture), to: root.appendingPathComponent(to))
        }
        try copy("images/flower_baseline420.jpg", "alpha/a0.jpg")
        try copy("images/flower_444.jpg", "alpha/a1.JPG")
        try copy("images/bad/empty.jpg", "alpha/empty.jpg")
        try copy("images/bad/text.jpg", "alpha/text.jpg")
        try copy("images/bad/png_renamed.jpg", "beta/png.jpg")
        try copy("images/bad/random.jpg", "beta/random.jpg")
        try copy("images/bad/truncated.jpg", "beta/truncated.jpg")
        try copy("images/flower_gray.jpg", "beta/b0.jpeg")
        try copy("images/flower_cmyk.jpg", "beta/b1.jpg")
        try Data("x".utf8).write(to: root.appendingPathComponent("beta/readme.md"))
        try Data("x".utf8).write(to: root.appendingPathComponent("beta/.hidden.jpg"))
        try fm.createDirectory(at: root.appendingPathComponent(".cache"), withIntermediateDirectories: true)
        return root
    }

    @Test("unreadable files are reported once each, by path and reason, and left out")
    func unreadable() throws {
        let root = try Self.messyFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let folder = try ImageFolder(root: root)
        #expect(folder.classNames == ["alpha", "beta"])
        // The PNG named .jpg is read as the PNG it is.
        #expect(
            folder.samples.map(\.path) == [
                "alpha/a0.jpg", "alpha/a1.JPG", "beta/b0.jpeg", "beta/b1.jpg", "beta/png.jpg", "beta/truncated.jpg",
            ])
        #expect(folder.samples.first { $0.path == "beta/png.jpg" }.map { [$0.width, $0.height] } == [64, 64])
        #expect(folder.skipped == [".cache", "beta/.hidden.jpg", "beta/readme.md"])
        let reasons = Dictionary(uniqueKeysWithValues: folder.unreadable.map { ($0.path, $0.reason) })
        #expect(reasons.count == 3)
        #expect(reasons["alpha/empty.jpg"]?.contains("empty file") == true)
        #expect(reasons["alpha/text.jpg"]?.contains("plain text") == true)
        #expect(reasons["beta/random.jpg"]?.contains("neither a JPEG nor a PNG") == true)
    }

    @Test("an empty root is an error naming it")
    func emptyRoot() throws {
        let root = try TemporaryDirectory.make("graft-data-tests")
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(throws: DataError.self) { try ImageFolder(root: root) }
        #expect(throws: DataError.self) { try ImageFolder(root: root.appendingPathComponent("missing")) }
    }
}
