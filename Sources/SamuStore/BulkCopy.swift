import Foundation
import PostgresNIO

extension SamuStore {
    /// Rows for one table of a ``copy(_:)``: values as PostgreSQL's text form, `nil` for NULL.
    public struct CopyTable: Sendable {
        public var table: String
        public var columns: [String]
        public var rows: [[String?]]

        public init(table: String, columns: [String], rows: [[String?]]) {
            self.table = table
            self.columns = columns
            self.rows = rows
        }
    }

    /// Loads rows with `COPY … FROM STDIN` (text format), every table in one transaction, committed
    /// durably. Table and column names are samu's own, never input. Returns the rows copied.
    public func copy(_ tables: [CopyTable]) async throws -> Int {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection -> Int in
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
