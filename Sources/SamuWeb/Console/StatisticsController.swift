import Foundation
import Hummingbird
import Logging
import NIOCore
import SamuModel
import SamuStore

/// The ministry's statistics for an account's zones (`/api/statistics`, `.html`, `.csv`): any
/// period (`from`, `to`: days, Morocco's time), French or Arabic (`lang`). Operators and
/// supervisors only.
struct StatisticsController: Sendable {
    let store: SamuStore
    let board: BoardRepository
    let logger: Logger
    /// Statistics over years scan every case of those years, on the pool's connections that every
    /// session lookup and call also needs: one computation per account at a time, and
    /// `maximumRunning` in all, so that a supervisor's exports never stall the night's work.
    static let maximumRunning = 2
    let running = StreamSlots(limit: maximumRunning)
    let perAccount = StreamSlots(limit: 1)

    func addRoutes(to group: RouterGroup<ConsoleRequestContext>) {
        group.get("statistics") { request, context in
            JSONBody.response(try await statistics(request, context))
        }
        group.get("statistics.csv") { request, context in
            let stats = try await statistics(request, context)
            return Response(
                status: .ok,
                headers: [
                    .contentType: "text/csv; charset=utf-8", .cacheControl: "no-store",
                    .contentDisposition: "attachment; filename=\"samu-statistics.csv\"",
                ], body: .init(byteBuffer: ByteBuffer(string: stats.csv)))
        }
        group.get("statistics.html") { request, context in
            let stats = try await statistics(request, context)
            let language =
                request.uri.queryParameters["lang"].flatMap { NightReportPage.Language(rawValue: String($0)) } ?? .fr
            let page = StatisticsPage(
                statistics: stats, language: language, labels: try await board.labelsWithVocabulary(),
                formAction: "/api/statistics.html")
            return Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: page.html)))
        }
    }

    func statistics(_ request: Request, _ context: ConsoleRequestContext) async throws -> Statistics {
        let session = try context.requireBoardSession()
        guard session.account.role.dispatches else {
            throw Problem(.forbidden, "statistics are for operators and supervisors")
        }
        let query = request.uri.queryParameters
        func day(_ name: String) -> String? {
            guard let value = query[name[...]], !value.isEmpty else { return nil }
            return String(value)
        }
        guard let period = Statistics.period(from: day("from"), to: day("to")) else {
            throw Problem(
                .validation, "from and to are days (YYYY-MM-DD), from not after to, at most ten years apart",
                field: "from")
        }
        guard let mine = perAccount.take(session.account.id) else {
            throw Problem(.rateLimited, "your statistics are being computed; one at a time", retryAfter: 2)
        }
        guard let slot = running.take("all") else {
            throw Problem(
                .rateLimited, "\(Self.maximumRunning) statistics are being computed; try again shortly", retryAfter: 2)
        }
        // Both places are held until the statistics are read.
        defer { withExtendedLifetime((mine, slot)) {} }
        return try await Statistics.load(
            store: store, from: period.from, to: period.to, zones: session.account.zones, logger: logger)
    }
}
