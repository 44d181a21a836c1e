import Foundation
import Logging
import RdKafka
import SamuModel
import SamuStore
import SamuTriage

/// What every process of samu starts from: the configuration (from `SAMU_*` variables), a logger
/// bootstrapped once in the configured format, and the topic catalog with the configured prefix.
public struct SamuContext: Sendable {
    /// A setting, file or library samu cannot start with; the message names the fix.
    public struct SetupError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
        public init(_ message: String) { self.message = message }
    }

    public let configuration: SamuConfiguration
    public let logger: Logger
    public let catalog: TopicCatalog

    /// Reads the configuration, bootstraps logging (once per process) and loads the topic catalog.
    public static func load(label: String) throws(SetupError) -> SamuContext {
        let configuration: SamuConfiguration
        do {
            configuration = try SamuConfiguration()
        } catch {
            throw SetupError("configuration: \(error)")
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        let json = configuration.jsonLogs
        LoggingSystem.bootstrap { label in
            if json {
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        let catalog: TopicCatalog
        do {
            let base =
                if let directory = configuration.topicsDirectory {
                    try TopicCatalog.load(directory: URL(fileURLWithPath: directory))
                } else {
                    try TopicCatalog.loadDefault()
                }
            catalog = base.withPrefix(configuration.topicPrefix)
        } catch {
            throw SetupError("topic catalog: \(error)")
        }
        return SamuContext(configuration: configuration, logger: logger, catalog: catalog)
    }

    /// The triage engine from SAMU_TRIAGE_RULES or seeds/triage/rules.json.
    public func triageEngine() throws(SetupError) -> TriageEngine {
        guard
            let url = configuration.triageRulesPath.map({ URL(fileURLWithPath: $0) })
                ?? RepositoryFiles.locate("seeds/triage/rules.json")
        else { throw SetupError("triage rules not found; set SAMU_TRIAGE_RULES") }
        do {
            return TriageEngine(rules: try TriageRules.load(url))
        } catch {
            throw SetupError("\(error)")
        }
    }

    /// The deployment from SAMU_DEPLOYMENT or seeds/demo/deployment.json, if there is one.
    public func deployment() throws(SetupError) -> Deployment? {
        guard
            let url = configuration.deploymentPath.map({ URL(fileURLWithPath: $0) })
                ?? RepositoryFiles.locate("seeds/demo/deployment.json")
        else { return nil }
        do {
            return try Deployment.load(url)
        } catch {
            throw SetupError("\(error)")
        }
    }

    /// Runs `body` with a store whose connection pool runs beside it.
    public func withStore<Result: Sendable>(_ body: (SamuStore) async throws -> Result) async throws -> Result {
        try await SamuStore.withStore(configuration: configuration.database, logger: logger, body)
    }

    /// The deployment's dispatch areas (none declared: every zone is its own). Every producer of
    /// the inbound topics keys a zone's events by its area.
    public func areas() throws(SetupError) -> DispatchAreas {
        try deployment()?.areas ?? .none
    }

    /// The worker for this configuration: its triage rules, zones, the deployment's neighbours and
    /// the partner feed; `trace` is a benchmark's (none in the product).
    public func dispatchWorker(store: SamuStore, trace: (any StageTrace)? = nil) throws -> DispatchWorker {
        DispatchWorker(
            configuration: configuration, catalog: catalog, store: store, triage: try triageEngine(),
            zones: try configuration.zoneDirectory(), neighbours: try deployment()?.neighbours ?? [:],
            areas: try areas(),
            partnerFeed: try configuration.partnerFeed(), trace: trace, logger: logger)
    }

    /// Fails early, with the fix, when the librdkafka loaded at run time is too old.
    public static func requireLibrdKafka() throws(SetupError) {
        do {
            try LibrdKafka.requireSupportedVersion()
        } catch {
            throw SetupError(error.message)
        }
    }
}
