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
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        let merged = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw CommandFailed(
                command: executable, output: "posix_spawn failed: \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 { try await Task.sleep(for: .milliseconds(20)) }
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

    /// A Tansu broker on a port of its own (memory storage, like the shared one).
    public final class Broker: @unchecked Sendable {
        public let port: Int
        private var process: Process?
        private let log: URL

        /// The port the broker tells its clients to connect to (its own, or a proxy's in front of it).
        public let advertisedPort: Int

        /// A broker on a free port; `advertisedPort` (a ``FaultProxy``'s, say) makes every client
        /// connection after the bootstrap go there instead.
        public init(port: Int? = nil, advertisedPort: Int? = nil) throws {
            self.port = port ?? PrivateServers.freePort()
            self.advertisedPort = advertisedPort ?? self.port
            log = FileManager.default.temporaryDirectory.appendingPathComponent("tansu-\(self.port).log")
            try start()
        }

        public var bootstrapServers: String { "127.0.0.1:\(advertisedPort)" }

        /// Starts an empty broker on the same port (after ``kill()``, its data are gone).
        public func start() throws {
            let process = Process()
            process.executableURL = PrivateServers.local.appendingPathComponent("bin/tansu")
            process.arguments = [
                "broker", "--listener-url", "tcp://127.0.0.1:\(port)", "--advertised-listener-url",
                "tcp://127.0.0.1:\(advertisedPort)", "--storage-engine", "memory://tansu/",
            ]
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            self.process = process
            for _ in 0..<100 where !PrivateServers.listening(port) { usleep(100_000) }
        }

        public var pid: Int32 { process?.processIdentifier ?? 0 }
        public func pause() { Foundation.kill(pid, SIGSTOP) }
        public func resume() { Foundation.kill(pid, SIGCONT) }

        /// kill -9: the memory store is lost.
        public func kill() {
            guard let process else { return }
            Foundation.kill(process.processIdentifier, SIGKILL)
            for _ in 0..<500 where process.isRunning { usleep(10_000) }
            self.process = nil
            for _ in 0..<50 where PrivateServers.listening(port) { usleep(100_000) }
        }

        deinit {
            if let process, process.isRunning {
                Foundation.kill(process.processIdentifier, SIGCONT)
                Foundation.kill(process.processIdentifier, SIGKILL)
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
