import Foundation
import Testing

/// PostgreSQL for the tests of the catalog and of cluster runs: present where its server
/// binaries are installed (`scripts/install-deps.sh`); required in CI.
public let postgresPrerequisite = Prerequisite(
    "a PostgreSQL server",
    problem: PostgresTestServer.binDirectory == nil ? "initdb and pg_ctl not found \(PostgresTestServer.searched)" : nil
)

/// One PostgreSQL server for the whole test process, in a temporary directory, listening only on
/// a Unix socket there; stopped and removed when the process exits. initdb refuses to run as
/// root, so as root the server runs as the `postgres` user the Debian package creates (on Linux;
/// elsewhere, untested, the binaries are looked for on the PATH and run as the current user).
public final class PostgresTestServer: @unchecked Sendable {
    public let directory: URL
    private let port = 5432
    private var nextDatabase = 0
    private let lock = NSLock()

    nonisolated(unsafe) private static var started: PostgresTestServer?
    private static let startLock = NSLock()

    public static var binDirectory: URL? {
        #if os(Linux)
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        let candidates = versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }).map {
            root.appendingPathComponent($0).appendingPathComponent("bin")
        }
        #else
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = (path.split(separator: ":").map(String.init) + ["/opt/homebrew/bin", "/usr/local/bin"]).map {
            URL(fileURLWithPath: $0)
        }
        #endif
        for bin in candidates {
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path),
                FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("pg_ctl").path)
            {
                return bin
            }
        }
        return nil
    }

    /// Where `binDirectory` looks, for the prerequisite's message.
    static var searched: String {
        #if os(Linux)
        "under /usr/lib/postgresql"
        #else
        "on the PATH"
        #endif
    }

    /// The server, started on first use.
    public static func shared() throws -> PostgresTestServer {
        startLock.lock()
        defer { startLock.unlock() }
        if let started { return started }
        try postgresPrerequisite.require()
        let server = try PostgresTestServer()
        started = server
        atexit { PostgresTestServer.started?.stop() }
        return server
    }

    private init() throws {
        directory = try TemporaryDirectory.make("graft-pg")
        if getuid() == 0 {
            try FileManager.default.setAttributes(
                [.ownerAccountName: "postgres", .posixPermissions: 0o755], ofItemAtPath: directory.path)
        }
        let data = directory.appendingPathComponent("data").path
        try run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--locale=C", "-E", "UTF8", "--no-sync"])
        try run(
            "pg_ctl",
            [
                "-D", data, "-l", directory.appendingPathComponent("server.log").path, "-w", "-o",
                "-k \(directory.path) -p \(port) -c listen_addresses='' -c fsync=off -c max_connections=100",
                "start",
            ])
    }

    /// A URL of a new, empty database.
    public func createDatabase() throws -> String {
        lock.lock()
        nextDatabase += 1
        let name = "graft_test_\(nextDatabase)"
        lock.unlock()
        try runSQL("CREATE DATABASE \(name)")
        return url(database: name)
    }

    public func url(database: String) -> String {
        "postgresql://postgres@/\(database)?host=\(directory.path)&port=\(port)"
    }

    private func runSQL(_ sql: String) throws {
        #if os(Linux)
        let psql = URL(fileURLWithPath: "/usr/bin/psql")
        #else
        let psql = (Self.binDirectory ?? URL(fileURLWithPath: "/usr/bin")).appendingPathComponent("psql")
        #endif
        let outcome = try ChildProcess.run(
            psql,
            ["-q", "-v", "ON_ERROR_STOP=1", url(database: "postgres"), "-c", sql])
        guard outcome.status == 0 else { throw ServerError.failed("psql -c \(sql)", outcome.stderr) }
    }

    public func stop() {
        try? run("pg_ctl", ["-D", directory.appendingPathComponent("data").path, "-m", "immediate", "-w", "stop"])
        TemporaryDirectory.remove(directory)
    }

    enum ServerError: Error, CustomStringConvertible {
        case failed(String, String)
        var description: String {
            switch self {
            case .failed(let command, let output): "\(command) failed: \(output)"
            }
        }
    }

    /// Runs a server binary, as `postgres` when we are root, and waits for it.
    ///
    /// Not through Foundation's `Process`: it learns that a child exited when a descriptor the
    /// child inherited closes, and the server `pg_ctl` leaves running inherits it too. Here a
    /// shell closes every descriptor above stderr before running the tool, and we wait on the pid.
    private func run(_ tool: String, _ arguments: [String]) throws {
        guard let bin = Self.binDirectory else { throw ServerError.failed(tool, "no PostgreSQL binaries") }
        #if os(Linux)
        let asPostgres = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        let descriptors = "/proc/$$/fd"
        #else
        let asPostgres: [String] = []
        let descriptors = "/dev/fd"
        #endif
        let command = asPostgres + [bin.appendingPathComponent(tool).path] + arguments
        let outputFile = directory.appendingPathComponent("\(tool).out").path
        let script = """
            for fd in \(descriptors)/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done 2>/dev/null
            exec "$@" >"$OUTPUT" 2>&1 </dev/null
            """
        let argv = ["/bin/bash", "-c", script, "bash"] + command
        var environment = ProcessInfo.processInfo.environment
        environment["OUTPUT"] = outputFile
        let envp = environment.map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = envp.map { strdup($0) } + [nil]
        defer {
            cArgs.forEach { free($0) }
            cEnv.forEach { free($0) }
        }
        let spawned = posix_spawn(&pid, "/bin/bash", nil, nil, cArgs, cEnv)
        guard spawned == 0 else { throw ServerError.failed(tool, String(cString: strerror(spawned))) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let text = (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? ""
        // WIFEXITED && WEXITSTATUS == 0
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw ServerError.failed("\(tool) \(arguments.joined(separator: " "))", text)
        }
    }
}
