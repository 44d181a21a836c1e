import Foundation
import SamuModel
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A real headless Chromium (Debian's `chromium`) driven over the Chrome DevTools Protocol
/// through `--remote-debugging-pipe`: commands go to the browser's fd 3 and answers come back on
/// its fd 4, NUL-terminated JSON messages. No WebSocket client and no driver binary needed.
public final class Chromium: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private struct State {
        var nextID: Int64 = 1
        var waiting: [Int64: CheckedContinuation<JSONValue, any Error>] = [:]
        var closed = false
    }

    private let pid: pid_t
    private let commands: Int32
    private let answers: Int32
    private let state = Mutex(State())
    private let profile: URL

    /// The browser executable: `SAMU_CHROMIUM`, else Debian's `/usr/bin/chromium`.
    public static var executable: String {
        ProcessInfo.processInfo.environment["SAMU_CHROMIUM"] ?? "/usr/bin/chromium"
    }

    public init(windowSize: (Int, Int) = (1400, 900)) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw Failure(
                description: "no browser at \(Self.executable): run ops/setup.sh (installs Debian's chromium)")
        }
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("samu-chromium-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: profile, withIntermediateDirectories: true)
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        guard unsafe pipe(&toBrowser) == 0, unsafe pipe(&fromBrowser) == 0 else {
            throw Failure(description: "pipe() failed")
        }
        let arguments = [
            Self.executable, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--mute-audio", "--hide-scrollbars",
            "--user-data-dir=\(profile.path)", "--window-size=\(windowSize.0),\(windowSize.1)", "about:blank",
        ]
        var actions = unsafe posix_spawn_file_actions_t()
        unsafe posix_spawn_file_actions_init(&actions)
        defer { unsafe posix_spawn_file_actions_destroy(&actions) }
        unsafe posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        unsafe posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        // The browser's own chatter goes nowhere (its errors would interleave with the tests').
        unsafe posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        unsafe posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var child: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = unsafe arguments.map { unsafe strdup($0) } + [nil]
        defer { unsafe argv.forEach { unsafe free($0) } }
        let result = unsafe posix_spawn(&child, Self.executable, &actions, nil, argv, environ)
        Glibc.close(toBrowser[0])
        Glibc.close(fromBrowser[1])
        guard result == 0 else {
            Glibc.close(toBrowser[1])
            Glibc.close(fromBrowser[0])
            throw Failure(description: "could not start \(Self.executable): errno \(result)")
        }
        pid = child
        commands = toBrowser[1]
        answers = fromBrowser[0]
        let reader = Thread { [self] in readAnswers() }
        reader.name = "chromium-cdp"
        reader.start()
    }

    /// Stops the browser and removes its profile.
    public func close() {
        let wasOpen = state.withLock { state in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        unsafe waitpid(pid, &status, 0)
        Glibc.close(commands)
        try? FileManager.default.removeItem(at: profile)
    }

    deinit { close() }

    private func readAnswers() {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = unsafe read(answers, &buffer, buffer.count)
            if count <= 0 { break }
            pending += buffer[0..<count]
            while let end = pending.firstIndex(of: 0) {
                let message = Array(pending[..<end])
                pending.removeSubrange(...end)
                guard let value = try? JSONParser.parse(message), case .integer(let id)? = value["id"] else { continue }
                let continuation = state.withLock { $0.waiting.removeValue(forKey: id) }
                if let error = value["error"] {
                    continuation?.resume(throwing: Failure(description: "CDP error: \(error.serialized)"))
                } else {
                    continuation?.resume(returning: value["result"] ?? .null)
                }
            }
        }
        Glibc.close(answers)
        let waiting = state.withLock { state in
            defer { state.waiting = [:] }
            return state.waiting
        }
        for continuation in waiting.values {
            continuation.resume(throwing: Failure(description: "the browser closed its pipe"))
        }
    }

    /// Sends one command (to a page when `session` is set) and returns its result.
    @discardableResult
    public func send(
        _ method: String, _ params: JSONObject = JSONObject(), session: String? = nil
    ) async throws
        -> JSONValue
    {
        try await withCheckedThrowingContinuation { continuation in
            let id = state.withLock { state -> Int64? in
                guard !state.closed else { return nil }
                let id = state.nextID
                state.nextID += 1
                state.waiting[id] = continuation
                return id
            }
            guard let id else {
                continuation.resume(throwing: Failure(description: "the browser is closed"))
                return
            }
            var message = JSONObject()
            message.append("id", .integer(id))
            message.append("method", .string(method))
            message.append("params", .object(params))
            if let session { message.append("sessionId", .string(session)) }
            var bytes = JSONValue.object(message).serializedBytes
            bytes.append(0)
            let written = unsafe bytes.withUnsafeBytes { unsafe write(commands, $0.baseAddress, $0.count) }
            if written != bytes.count {
                let lost = state.withLock { $0.waiting.removeValue(forKey: id) }
                lost?.resume(throwing: Failure(description: "could not write to the browser"))
            }
        }
    }

    /// A new tab in a browser context of its own (its own cookies: one operator each).
    public func newPage() async throws -> Page {
        let context = try await send("Target.createBrowserContext")
        guard let contextID = context["browserContextId"]?.stringValue else {
            throw Failure(description: "no browser context")
        }
        var params = JSONObject()
        params.append("url", "about:blank")
        params.append("browserContextId", .string(contextID))
        let target = try await send("Target.createTarget", params)
        guard let targetID = target["targetId"]?.stringValue else { throw Failure(description: "no target") }
        var attach = JSONObject()
        attach.append("targetId", .string(targetID))
        attach.append("flatten", true)
        let attached = try await send("Target.attachToTarget", attach)
        guard let session = attached["sessionId"]?.stringValue else { throw Failure(description: "no session") }
        let page = Page(browser: self, session: session, context: contextID)
        try await send("Page.enable", session: session)
        try await send("Runtime.enable", session: session)
        return page
    }

    /// One tab.
    public struct Page: Sendable {
        let browser: Chromium
        let session: String
        /// The page's browser context (its own cookies and permissions).
        public let context: String

        /// Sends a DevTools command to this page (emulation, network conditions…).
        @discardableResult
        public func send(_ method: String, _ params: JSONObject = JSONObject()) async throws -> JSONValue {
            try await browser.send(method, params, session: session)
        }

        /// A phone: a 360×640 viewport with touch, and the position the geolocation API gives.
        public func emulatePhone(latitude: Double, longitude: Double, origin: String) async throws {
            var metrics = JSONObject()
            metrics.append("width", 360)
            metrics.append("height", 640)
            metrics.append("deviceScaleFactor", 2)
            metrics.append("mobile", true)
            try await send("Emulation.setDeviceMetricsOverride", metrics)
            var touch = JSONObject()
            touch.append("enabled", true)
            touch.append("maxTouchPoints", 5)
            try await send("Emulation.setTouchEmulationEnabled", touch)
            var grant = JSONObject()
            grant.append("permissions", ["geolocation"])
            grant.append("origin", .string(origin))
            grant.append("browserContextId", .string(context))
            try await browser.send("Browser.grantPermissions", grant)
            try await setPosition(latitude: latitude, longitude: longitude)
        }

        /// Moves the phone (the geolocation API's answer).
        public func setPosition(latitude: Double, longitude: Double) async throws {
            var position = JSONObject()
            position.append("latitude", .number(latitude))
            position.append("longitude", .number(longitude))
            position.append("accuracy", 10)
            try await send("Emulation.setGeolocationOverride", position)
        }

        /// Removes the position set by ``setPosition(latitude:longitude:)``: the page's geolocation
        /// has no fix.
        public func clearPosition() async throws {
            try await send("Emulation.clearGeolocationOverride")
        }

        /// Takes the page's network away (or gives it back).
        public func setOffline(_ offline: Bool) async throws {
            try await send("Network.enable")
            var conditions = JSONObject()
            conditions.append("offline", .bool(offline))
            conditions.append("latency", 0)
            conditions.append("downloadThroughput", -1)
            conditions.append("uploadThroughput", -1)
            try await send("Network.emulateNetworkConditions", conditions)
        }

        public func navigate(_ url: String) async throws {
            var params = JSONObject()
            params.append("url", .string(url))
            try await browser.send("Page.navigate", params, session: session)
            _ = try await waitFor("document.readyState === 'complete'", timeout: .seconds(20))
        }

        /// Evaluates a JavaScript expression in the page (promises are awaited) and returns its value.
        @discardableResult
        public func evaluate(_ expression: String) async throws -> JSONValue {
            var params = JSONObject()
            params.append("expression", .string(expression))
            params.append("returnByValue", true)
            params.append("awaitPromise", true)
            let result = try await browser.send("Runtime.evaluate", params, session: session)
            if let exception = result["exceptionDetails"] {
                throw Failure(description: "page script failed: \(exception.serialized)")
            }
            return result["result"]?["value"] ?? .null
        }

        /// Polls `expression` until it is truthy; returns how long that took. Throws after `timeout`.
        @discardableResult
        public func waitFor(_ expression: String, timeout: Duration = .seconds(15)) async throws -> Duration {
            let start = ContinuousClock.now
            while ContinuousClock.now - start < timeout {
                let value = try await evaluate("Boolean(\(expression))")
                if value == .bool(true) { return ContinuousClock.now - start }
                try await Task.sleep(for: .milliseconds(25))
            }
            throw Failure(description: "still false after \(timeout): \(expression)")
        }

        /// A PNG of the page as it is rendered now.
        public func screenshot(to url: URL) async throws {
            var params = JSONObject()
            params.append("format", "png")
            let result = try await browser.send("Page.captureScreenshot", params, session: session)
            guard let base64 = result["data"]?.stringValue, let data = Data(base64Encoded: base64) else {
                throw Failure(description: "no screenshot data")
            }
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
        }
    }
}
