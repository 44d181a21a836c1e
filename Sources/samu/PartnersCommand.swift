import ArgumentParser
import Foundation
import RdKafka
import SamuModel
import SamuPipeline

struct PartnersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "partners", abstract: "Municipal partners: pseudonym keys and the privacy scan of their topic.",
        subcommands: [Keys.self, Scan.self])

    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the pseudonym key file (SAMU_PARTNER_KEYS) with a key for every partner that has none.",
            discussion:
                "The file is written with mode 0600 and never enters the database. `--rotate PARTNER` adds a new key used for every hour from now on (or --since): the partner's pseudonyms change and old and new records cannot be linked."
        )

        @Option(help: "Add a new key for this partner.") var rotate: String?
        @Option(help: "With --rotate: first hour the new key covers (RFC 3339).") var since: String?

        func run() async throws {
            let context = try Context.forCommand(label: "samu.partners")
            guard let partnersPath = context.configuration.partnersPath else {
                throw ValidationError("set SAMU_PARTNERS to the partners file")
            }
            guard let keysPath = context.configuration.partnerKeysPath else {
                throw ValidationError("set SAMU_PARTNER_KEYS to where the key file lives")
            }
            let partners = try PartnerDirectory.load(URL(fileURLWithPath: partnersPath)).partners.map(\.id)
            let url = URL(fileURLWithPath: keysPath)
            var keyring =
                FileManager.default.fileExists(atPath: keysPath)
                ? try PseudonymKeyring.load(url) : PseudonymKeyring(keys: [])
            let missing = keyring.missingPartners(partners)
            if !missing.isEmpty {
                keyring = PseudonymKeyring(keys: keyring.keys + PseudonymKeyring.generate(partners: missing).keys)
            }
            if let rotate {
                guard partners.contains(rotate) else {
                    throw ValidationError("no partner '\(rotate)' in \(partnersPath)")
                }
                let start =
                    try since.map { text in
                        guard let date = RFC3339.parse(text) else { throw ValidationError("--since: not RFC 3339") }
                        return date
                    } ?? Date()
                keyring = keyring.rotated(partner: rotate, at: HourBucket.start(of: start))
            }
            if missing.isEmpty && rotate == nil {
                print("partners keys: \(keysPath) already holds a key for each of \(partners.count) partners")
                return
            }
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            let temporary = url.appendingPathExtension("tmp")
            guard
                FileManager.default.createFile(
                    atPath: temporary.path, contents: Data(keyring.json.serialized.utf8),
                    attributes: [.posixPermissions: 0o600])
            else { throw ValidationError("cannot write \(temporary.path)") }
            // rename(2): atomic, whether or not the file existed.
            guard unsafe rename(temporary.path, url.path) == 0 else {
                throw ValidationError("cannot move \(temporary.path) to \(url.path)")
            }
            print(
                "partners keys: wrote \(keysPath) (\(missing.count) new partner keys\(rotate.map { ", rotated \($0)" } ?? ""))"
            )
        }
    }

    struct Scan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Read the whole partner topic and check every event: closed schema, forbidden fields and values, record timestamps finer than the hour, headers off the allow-list, conflicting duplicates. Exits 1 on any finding."
        )

        @Option(help: "Also print this many events, as partners receive them.") var show = 0

        func run() async throws {
            try requireLibrdKafka()
            let context = try Context.forCommand(label: "samu.partners")
            let partners = try context.configuration.partnerIDs()
            if partners.isEmpty { throw ValidationError("SAMU_PARTNERS is not set: no partner topic to scan") }
            var failed = false
            for partner in partners {
                let topic = context.catalog.partnerTopic(partner)
                if show > 0 {
                    let messages = try await KafkaTopicReader.readAll(
                        topic: topic, client: context.configuration.kafka, logger: context.logger)
                    for message in messages.prefix(show) {
                        print("  " + (message.value.map { String(decoding: $0, as: UTF8.self) } ?? "(tombstone)"))
                    }
                }
                let report = try await PartnerAudit.scanTopic(
                    partner: partner, configuration: context.configuration, catalog: context.catalog,
                    logger: context.logger)
                print("partners scan: \(topic): \(report)")
                for violation in report.violations.prefix(20) { print("  \(violation)") }
                if !report.violations.isEmpty || report.conflictingDuplicates > 0 { failed = true }
            }
            if failed { throw ExitCode(1) }
        }
    }
}
