import Foundation
import Testing
import TestSupport
@testable import GraftCatalog

/// The backends the catalog's tests run against: SQLite always; PostgreSQL where its server
/// binaries are installed (`scripts/install-deps.sh`), and always in CI, where a missing server
/// fails the tests instead of skipping them.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgresql

    static var available: [Backend] { postgresPrerequisite.runs ? [.sqlite, .postgresql] : [.sqlite] }

    var testDescription: String { rawValue }
}

/// A new, empty catalog on `backend`: SQLite in memory, or a database of its own on the test
/// server. Stored paths resolve against `baseDirectory` (the checkpoint root on PostgreSQL).
func makeCatalog(_ backend: Backend, baseDirectory: URL? = nil) throws -> Catalog {
    let base = baseDirectory ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    switch backend {
    case .sqlite:
        return try Catalog.inMemory(baseDirectory: base)
    case .postgresql:
        return try Catalog.open(location: try PostgresTestServer.shared().createDatabase(), checkpointRoot: base.path)
    }
}

/// A new, empty catalog on `backend` whose files live in `directory`: a SQLite file there, or a
/// database of its own on the test server with `directory` as its checkpoint root.
func makeCatalog(_ backend: Backend, in directory: URL) throws -> Catalog {
    try Catalog.open(location: try makeCatalogLocation(backend, in: directory), checkpointRoot: directory.path)
}

/// A catalog location on `backend` that several processes can open: a file in `directory`, or a
/// new database on the test server.
func makeCatalogLocation(_ backend: Backend, in directory: URL) throws -> String {
    switch backend {
    case .sqlite: directory.appendingPathComponent("catalog.sqlite").path
    case .postgresql: try PostgresTestServer.shared().createDatabase()
    }
}
