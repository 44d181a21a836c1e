import Foundation
import Logging
import Synchronization

/// Logs as JSON lines on standard error (`SAMU_LOG_FORMAT=json`): one object per line with
/// `time` (ISO 8601, UTC, milliseconds), `level`, `label`, `message`, the metadata as strings,
/// and `source` — what log shippers (Loki, Elasticsearch, journald) take without parsing rules.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    private static let output = Mutex<FileHandle>(FileHandle.standardError)

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        Self.output.withLock { $0.write(Data(Self.line(event: event, label: label, metadata: fields).utf8)) }
    }

    /// One log line (with its newline).
    public static func line(event: LogEvent, label: String, metadata: Logger.Metadata, at date: Date = Date()) -> String
    {
        var object: [String: String] = [
            "time": date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            "level": event.level.rawValue, "label": label, "message": "\(event.message)",
            "source": event.source,
        ]
        for (key, value) in metadata where object[key] == nil { object[key] = "\(value)" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(object)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
