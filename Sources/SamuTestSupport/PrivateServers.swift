import Foundation
import RdKafka

/// Servers of one fault scenario's own, so that pausing, crashing or wiping them cannot disturb the
/// tests running beside it on the shared broker and cluster started by `ops/`.
public enum PrivateServers {
    /// The `.local` folder of the embedded default (tansu, librdkafka, PostgreSQL clusters).
    public static var local: URL {
        ProcessInfo.processInfo.environment["SAMU_LOCAL"].map { URL(fileURLWithPath: $0) }
            ?? Repository.root.appendingPathComponent(".local")
    }

    /// A TCP port on loopback that nothing listens on now.
    public static func freePort() -> Int {
        while true {
            let port = Int.random(in: 20_000...29_999)
            if !listening(port) { return port }
        }
    }

    public static func listening(_ port: Int) -> Bool { Loopback.accepts(port: port) }

    /// Runs a command to completion; throws with its output when it fails.
    ///
    /// posix_spawn and a polled `waitpid`, not Foundation's Process: the scripts start daemons
    /// (pg_ctl) and Process was seen to leave such a child unreaped, so that it never finished.
    @discardableResult
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:]
    ) async throws
        -> String
    {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("ops-\(UUID().uuidString).log")
        defer { try? FileManager.default.removeItem(at: output) }
        var actions = unsafe posix_spawn_file_actions_t()
        unsafe posix_spawn_file_actions_init(&actions)
        defer { unsafe posix_spawn_file_actions_destroy(&actions) }
        unsafe posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        unsafe posix_spawn_file_actions_adddup2(&actions, 1, 2)
        unsafe posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let argv = unsafe ([executable] + arguments).map { unsafe strdup($0) } + [nil]
        let envp = unsafe merged.map { unsafe strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            unsafe argv.forEach { unsafe free($0) }
            unsafe envp.forEach { unsafe free($0) }
        }
        var pid: pid_t = 0
        let spawned = unsafe posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw CommandFailed(
                command: executable, output: unsafe "posix_spawn failed: \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while unsafe waitpid(pid, &status, WNOHANG) == 0 { try await Task.sleep(for: .milliseconds(20)) }
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        // WIFEXITED && WEXITSTATUS == 0
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            throw CommandFailed(command: ([executable] + arguments).joined(separator: " "), output: text)
        }
        return text
    }

    public struct CommandFailed: Error, CustomStringConvertible {
        public var command: String
        public var output: String
        public var description: String { "\(command) failed:\n\(output.suffix(2000))" }
    }

    /// A Tansu broker on a port of its own (memory storage, like the shared one), started and
    /// driven by `ops/broker.sh` like the shared one.
    public final class Broker: Sendable {
        public let port: Int
        /// The port the broker tells its clients to connect to (its own, or a proxy's in front of it).
        public let advertisedPort: Int
        let directory: URL

        /// Starts a broker on a free port (or `port`); `advertisedPort` (a ``FaultProxy``'s, say)
        /// makes every client connection after the bootstrap go there instead.
        public static func start(port: Int? = nil, advertisedPort: Int? = nil) async throws -> Broker {
            let broker = Broker(port: port ?? PrivateServers.freePort(), advertisedPort: advertisedPort)
            try await broker.start()
            return broker
        }

        private init(port: Int, advertisedPort: Int?) {
            self.port = port
            self.advertisedPort = advertisedPort ?? port
            directory = PrivateServers.local.appendingPathComponent("faults/broker-\(port)")
        }

        public var bootstrapServers: String { "127.0.0.1:\(advertisedPort)" }

        private func broker(_ command: String) async throws {
            try await PrivateServers.run(
                "/bin/bash", [Repository.root.appendingPathComponent("ops/broker.sh").path, command],
                environment: [
                    "SAMU_KAFKA_PORT": "\(port)", "SAMU_KAFKA_ADVERTISED_PORT": "\(advertisedPort)",
                    "SAMU_BROKER_DIR": directory.path,
                ])
        }

        /// Starts an empty broker on the same port (after ``kill()``, its data are gone).
        public func start() async throws { try await broker("start") }
        /// kill -9: the memory store is lost.
        public func kill() async throws { try await broker("kill") }
        public func pause() async throws { try await broker("pause") }
        public func resume() async throws { try await broker("resume") }

        deinit {
            // A test that failed before stopping its broker: kill -9 by the PID file, synchronously.
            let pidfile = directory.appendingPathComponent("tansu.pid")
            if let text = try? String(contentsOf: pidfile, encoding: .utf8), let pid = Int32(text.trimmed) {
                Foundation.kill(pid, SIGCONT)
                Foundation.kill(pid, SIGKILL)
            }
        }
    }

    /// A PostgreSQL cluster of its own, created and driven by `ops/database.sh` like the shared one.
    public final class Database: Sendable {
        public let port: Int
        public let directory: URL

        public init() async throws {
            port = PrivateServers.freePort()
            directory = PrivateServers.local.appendingPathComponent("faults/pg-\(port)")
            try FileManager.default.createDirectory(
                at: directory.deletingLastPathComponent(), withIntermediateDirectories: true)
            try await database("start")
        }

        public var url: String { "postgres://samu:samu-local@127.0.0.1:\(port)/samu" }

        private func database(_ command: String) async throws {
            try await PrivateServers.run(
                "/bin/bash", [Repository.root.appendingPathComponent("ops/database.sh").path, command],
                environment: ["SAMU_PG_DIR": directory.path, "SAMU_PG_PORT": "\(port)"])
        }

        public func start() async throws { try await database("start") }
        /// `pg_ctl stop -m immediate`: no checkpoint, crash recovery on the next start.
        public func crash() async throws { try await database("crash") }

        /// Stops the cluster and deletes its files.
        public func destroy() async throws {
            try await database("destroy")
        }
    }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
