import Foundation
import NIOSSL
import PostgresNIO

/// Where samu's database is and how to reach it, from a `postgres://` URL.
///
/// `postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=MODE&sslrootcert=FILE`, where `sslmode` is
/// `disable` (the default on loopback), `prefer`, `require` or `verify-full` (production:
/// certificate and host name checked against `sslrootcert`, or the system's trust store).
public struct DatabaseConfiguration: Sendable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyFull = "verify-full"
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { "database URL: \(message)" }
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var tlsMode: TLSMode
    public var rootCertificatePath: String?
    /// The PostgreSQL schema holding samu's tables (tests use one schema each).
    public var schema: String
    public var applicationName = "samu"
    public var maximumConnections = 8

    public init(url: String, schema: String = "samu") throws(ParseError) {
        guard let components = URLComponents(string: url),
            components.scheme == "postgres" || components.scheme == "postgresql"
        else { throw ParseError(message: "expected postgres://user:password@host:port/database") }
        guard let host = components.host, !host.isEmpty else { throw ParseError(message: "no host") }
        guard let user = components.user, !user.isEmpty else { throw ParseError(message: "no user name") }
        let database = String(components.path.drop { $0 == "/" })
        guard !database.isEmpty else { throw ParseError(message: "no database name") }
        self.host = host
        self.port = components.port ?? 5432
        self.username = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.database = database
        let query = Dictionary(
            (components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
        let mode = query["sslmode"] ?? "disable"
        guard let tlsMode = TLSMode(rawValue: mode) else {
            throw ParseError(
                message: "sslmode '\(mode)' is not one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.tlsMode = tlsMode
        self.rootCertificatePath = query["sslrootcert"]
        guard schema.range(of: "^[a-z_][a-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw ParseError(message: "schema name '\(schema)' must be a lower-case SQL identifier")
        }
        self.schema = schema
    }

    /// The TLS settings of `sslmode` (`nil` for `disable`): libpq's `require` encrypts without
    /// verifying the server; `verify-full` verifies it against `sslrootcert`.
    var tlsConfiguration: TLSConfiguration? {
        guard tlsMode != .disable else { return nil }
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if tlsMode == .verifyFull {
            if let rootCertificatePath { tlsConfiguration.trustRoots = .file(rootCertificatePath) }
        } else {
            tlsConfiguration.certificateVerification = .none
        }
        return tlsConfiguration
    }

    /// The PostgresNIO client configuration: search_path set to ``schema`` at connection start-up.
    public func clientConfiguration() throws -> PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch tlsConfiguration {
            case nil: .disable
            case let settings?: tlsMode == .prefer ? .prefer(settings) : .require(settings)
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.additionalStartupParameters = [
            ("search_path", schema), ("application_name", applicationName),
        ]
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// The same server, credentials and TLS for one connection of its own (the start-up check).
    public func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        if let settings = tlsConfiguration {
            let context = try NIOSSLContext(configuration: settings)
            tls = tlsMode == .prefer ? .prefer(context) : .require(context)
        } else {
            tls = .disable
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        return configuration
    }

    /// The URL without its password, for logs.
    public var description: String {
        "postgres://\(username)\(password == nil ? "" : ":<redacted>")@\(host):\(port)/\(database)?sslmode=\(tlsMode.rawValue) schema=\(schema)"
    }
}
