import Foundation
import Logging
import PostgresNIO
import SamuStore

/// PostgreSQL `COPY … FROM STDIN` of samu's rows: the suite's baseline for what the database alone
/// ingests.
enum BulkCopy {
    /// Rows for one table of a ``copy(_:)``: values as PostgreSQL's text form, `nil` for NULL.
    struct CopyTable: Sendable {
        var table: String
        var columns: [String]
        var rows: [[String?]]

        init(table: String, columns: [String], rows: [[String?]]) {
            self.table = table
            self.columns = columns
            self.rows = rows
        }
    }

    /// Loads rows with `COPY … FROM STDIN` (text format), every table in one transaction, committed
    /// durably. Table and column names are samu's own, never input. Returns the rows copied.
    static func copy(_ tables: [CopyTable], configuration: DatabaseConfiguration, logger: Logger) async throws -> Int {
        let client = PostgresClient(configuration: try configuration.clientConfiguration(), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            // Let the pool start before the first lease (PostgresNIO warns otherwise): a yield was
            // not enough on a loaded machine, where the pool's task may wait for the other core.
            try? await Task.sleep(for: .milliseconds(10))
            return try await copy(tables, client: client, logger: logger)
        }
    }

    private static func copy(_ tables: [CopyTable], client: PostgresClient, logger: Logger) async throws -> Int {
        try await client.withTransaction(logger: logger) { connection -> Int in
            var copied = 0
            for table in tables {
                try await connection.copyFrom(table: table.table, columns: table.columns, logger: logger) { writer in
                    var buffer = ByteBuffer()
                    for row in table.rows {
                        for (index, value) in row.enumerated() {
                            if index > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
                            Self.writeCopyText(value, to: &buffer)
                        }
                        buffer.writeInteger(UInt8(ascii: "\n"))
                        if buffer.readableBytes > 1 << 20 {
                            try await writer.write(buffer)
                            buffer.clear()
                        }
                    }
                    if buffer.readableBytes > 0 { try await writer.write(buffer) }
                }
                copied += table.rows.count
            }
            return copied
        }
    }

    /// A value in COPY's text format: `\N` for NULL; backslash, tab, newline and carriage return escaped.
    static func writeCopyText(_ value: String?, to buffer: inout ByteBuffer) {
        guard let value else {
            buffer.writeString(#"\N"#)
            return
        }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.writeString(#"\\"#)
            case UInt8(ascii: "\t"): buffer.writeString(#"\t"#)
            case UInt8(ascii: "\n"): buffer.writeString(#"\n"#)
            case UInt8(ascii: "\r"): buffer.writeString(#"\r"#)
            default: buffer.writeInteger(byte)
            }
        }
    }
}
