import Foundation

/// The `samu` executable built beside the tests, run as an operator would run it.
public enum SamuBinary {
    public static var path: String {
        ProcessInfo.processInfo.environment["SAMU_BINARY"]
            ?? Repository.root.appendingPathComponent(".build/debug/samu").path
    }

    public struct Outcome: Sendable {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String
        public var seconds: Double

        /// Both streams, for assertions that do not care which one a line went to.
        public var output: String { standardOutput + standardError }
    }

    /// Starts `samu ARGUMENTS` with the test's environment plus `environment`, its output going to
    /// files (so that no pipe can fill up and block it).
    public static func start(
        _ arguments: [String], environment: [String: String] = [:], name: String = UUID().uuidString
    ) throws -> Running {
        try Running(arguments: arguments, environment: environment, name: name)
    }

    /// Runs `samu ARGUMENTS` to completion.
    public static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
        let running = try start(arguments, environment: environment)
        return try await running.wait(timeout: .seconds(60))
    }

    /// A `samu` process started by a test.
    public final class Running: Sendable {
        let process: Process
        let outURL: URL
        let errURL: URL
        let started = Date()

        init(arguments: [String], environment: [String: String], name: String) throws {
            let directory = FileManager.default.temporaryDirectory
            outURL = directory.appendingPathComponent("samu-\(name).out")
            errURL = directory.appendingPathComponent("samu-\(name).err")
            _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
            _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
            process = Process()
            process.executableURL = URL(fileURLWithPath: SamuBinary.path)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = try FileHandle(forWritingTo: outURL)
            process.standardError = try FileHandle(forWritingTo: errURL)
            try process.run()
        }

        /// Both output streams so far.
        public var log: String {
            ((try? String(contentsOf: outURL, encoding: .utf8)) ?? "")
                + ((try? String(contentsOf: errURL, encoding: .utf8)) ?? "")
        }

        public var pid: Int32 { process.processIdentifier }
        public var isRunning: Bool { process.isRunning }

        /// The resident set size now, in bytes (from /proc), or `nil` once it has exited.
        public var residentBytes: Int? {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                let kilobytes = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "")
            else { return nil }
            return kilobytes * 1024
        }

        /// Sends a signal (SIGTERM to stop gracefully).
        public func signal(_ signal: Int32) {
            kill(process.processIdentifier, signal)
        }

        /// Waits for the process to exit (killing it after `timeout`).
        public func wait(timeout: Duration) async throws -> Outcome {
            let deadline = ContinuousClock.now + timeout
            while process.isRunning {
                if ContinuousClock.now > deadline {
                    kill(process.processIdentifier, SIGKILL)
                    throw TimedOut(log: log)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            return Outcome(
                status: process.terminationStatus,
                standardOutput: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                standardError: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
                seconds: Date().timeIntervalSince(started))
        }
    }

    /// Each thread of a process: name, state and kernel wait channel (to diagnose a stall).
    public static func threadStates(of pid: Int32) -> String {
        let tasks = "/proc/\(pid)/task"
        guard let ids = try? FileManager.default.contentsOfDirectory(atPath: tasks) else { return "(gone)" }
        return ids.sorted().map { id in
            let name = (try? String(contentsOfFile: "\(tasks)/\(id)/comm", encoding: .utf8)) ?? "?"
            let channel = (try? String(contentsOfFile: "\(tasks)/\(id)/wchan", encoding: .utf8)) ?? "?"
            let stat = (try? String(contentsOfFile: "\(tasks)/\(id)/stat", encoding: .utf8)) ?? ""
            let state = stat.split(separator: ")").last?.split(separator: " ").first ?? "?"
            return "\(name.trimmingCharacters(in: .whitespacesAndNewlines))[\(state)] \(channel)"
        }.joined(separator: "; ")
    }

    public struct TimedOut: Error, CustomStringConvertible {
        public var log: String
        public var description: String { "samu did not exit in time; its output:\n\(log.suffix(3000))" }
    }
}
