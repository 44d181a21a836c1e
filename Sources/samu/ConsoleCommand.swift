import ArgumentParser
import Foundation
import Hummingbird
import Logging
import SamuPipeline
import SamuStore
import SamuWeb
import ServiceLifecycle

struct ConsoleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console",
        abstract: "Serve the operator console, the HTTP intake, /metrics and the health checks.",
        discussion: """
            Listens on SAMU_CONSOLE_ADDRESS. Operators log in with accounts made by `samu accounts \
            operator`; hotline systems post with tokens from `samu accounts client`. Stops on SIGTERM \
            or SIGINT (open event streams are ended first).
            """
    )

    func run() async throws {
        try requireLibrdKafka()
        let context = try Context.forCommand(label: "samu.console")
        let registry = SamuMetrics.bootstrap()
        let store = try SamuStore(configuration: context.configuration.database, logger: context.logger)
        guard let (host, port) = SamuConfiguration.hostAndPort(context.configuration.consoleAddress) else {
            throw ValidationError("SAMU_CONSOLE_ADDRESS is not host:port")
        }
        let deployment = try context.deployment()
        let console = try ConsoleServer(
            settings: ConsoleSettings(
                host: host, port: port, secureCookies: context.configuration.consoleSecureCookies,
                areas: deployment?.areas ?? .none, shelters: deployment?.shelters ?? [],
                connections: ConnectionPolicy(perClient: context.configuration.consoleConnectionsPerClient)),
            store: store, catalog: context.catalog, zones: try context.configuration.zoneDirectory(),
            producer: context.configuration.producer, registry: registry, logger: context.logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: StoreService(store: store)), .init(service: console),
        ]
        if let address = context.configuration.consoleOpsAddress {
            guard let (host, port) = SamuConfiguration.hostAndPort(address) else {
                throw ValidationError("SAMU_CONSOLE_OPS_ADDRESS is not host:port")
            }
            services.append(.init(service: console.opsServer(host: host, port: port)))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint], logger: context.logger))
        try await group.run()
    }
}

struct AccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accounts",
        abstract: "Console accounts (operators, supervisors) and HTTP intake clients.",
        subcommands: [OperatorAccountCommand.self, ClientAccountCommand.self, ListAccountsCommand.self]
    )
}

struct OperatorAccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "operator",
        abstract: "Create or update a console account (its password is read from a file or standard input).")

    @Argument(help: "The login (lowercase letters, digits, . _ -).")
    var id: String

    @Option(help: "Zones (province and prefecture codes) the account may see and act on, comma-separated.")
    var zones: String

    @Option(
        help:
            "operator, supervisor (may also release another operator's claim and enrol crews' devices), child_protection (acknowledges and decides its provinces' child-protection referrals; no dispatch command) or shelter (keeps the shelters of --shelters at /shelter: beds, admissions, declines)."
    )
    var role: String = "operator"

    @Option(help: "With --role shelter: the shelters (ids) the account keeps, comma-separated.")
    var shelters: String?

    @Option(help: "The name shown on the console.")
    var name: String?

    @Option(help: "A file holding the password (first line); - reads standard input.")
    var passwordFile: String = "-"

    func run() async throws {
        let context = try Context.forCommand(label: "samu.accounts")
        guard let role = OperatorAccount.Role(rawValue: role) else {
            throw ValidationError("--role must be operator, supervisor, child_protection or shelter")
        }
        let shelterList = (shelters ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        guard (role == .shelter) == !shelterList.isEmpty else {
            throw ValidationError("--shelters goes with --role shelter, and a shelter account needs at least one")
        }
        guard shelterList.allSatisfy({ $0.wholeMatch(of: /[a-z0-9][a-z0-9-]{0,63}/) != nil }) else {
            throw ValidationError("a shelter id is lowercase letters, digits and hyphens")
        }
        let text =
            passwordFile == "-"
            ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            : try String(contentsOfFile: passwordFile, encoding: .utf8)
        let password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
        let zoneList = zoneCodes(zones)
        try await context.withStore { store in
            try await store.requireMigrated()
            try await requireKnownZones(zoneList, store: store, context: context)
            let account = OperatorAccount(
                id: id, displayName: name ?? id, role: role, zones: zoneList, shelters: shelterList)
            try await Accounts(store: store, logger: context.logger).saveOperator(account, password: password)
        }
        print("accounts: \(role.rawValue) \(id) can log in for \(zoneList.joined(separator: ", "))")
    }
}

struct ClientAccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "client",
        abstract: "Create an HTTP intake client, or give it a new token; prints the token once.")

    @Argument(help: "The client's name (lowercase letters, digits, . _ -).")
    var id: String

    @Option(help: "Reports a minute the client may post.")
    var ratePerMinute: Int = 600

    @Option(help: "Reports the client may post at once before the rate applies.")
    var burst: Int = 60

    @Option(help: "Zones the client may report for, comma-separated; default: every zone.")
    var zones: String?

    @Option(help: "Write the token to this file (mode 0600) instead of standard output.")
    var tokenFile: String?

    func run() async throws {
        let context = try Context.forCommand(label: "samu.accounts")
        guard ratePerMinute > 0, burst > 0 else {
            throw ValidationError("--rate-per-minute and --burst must be positive")
        }
        let zoneList = zones.map(zoneCodes)
        let token = try await context.withStore { store in
            try await store.requireMigrated()
            if let zoneList { try await requireKnownZones(zoneList, store: store, context: context) }
            return try await Accounts(store: store, logger: context.logger)
                .saveIntakeClient(id: id, ratePerMinute: ratePerMinute, burst: burst, zones: zoneList)
        }
        if let tokenFile {
            guard
                FileManager.default.createFile(
                    atPath: tokenFile, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
            else { throw ValidationError("cannot write \(tokenFile)") }
            print("accounts: client \(id) (\(ratePerMinute)/min, burst \(burst)); token in \(tokenFile)")
        } else {
            print(token)
        }
    }
}

struct ListAccountsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the console accounts.")

    func run() async throws {
        let context = try Context.forCommand(label: "samu.accounts")
        let accounts = try await context.withStore { store in
            try await Accounts(store: store, logger: context.logger).operatorAccounts()
        }
        for account in accounts {
            print(
                "\(account.id)\t\(account.role.rawValue)\t\(account.zones.joined(separator: ","))\t\(account.displayName)"
            )
        }
    }
}

/// `--zones a, b,c` as codes.
func zoneCodes(_ option: String) -> [String] {
    option.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// Fails unless every zone is in the reference data (and there is at least one).
func requireKnownZones(_ zones: [String], store: SamuStore, context: Context) async throws {
    guard !zones.isEmpty else { throw ValidationError("--zones needs at least one zone") }
    let found = try await store.seededZones(among: zones)
    let unknown = zones.filter { !found.contains($0) }
    guard unknown.isEmpty else {
        throw ValidationError("unknown zones: \(unknown.joined(separator: ", ")) (run `samu seed` first?)")
    }
}
