import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SamuModel
import SamuStore
import Synchronization

/// What an operator reads: labels, the board (once or live), a case's detail, its personal data
/// (one logged read per click) and who read it. Every read is scoped to the account's zones in SQL;
/// an out-of-scope case answers `404` like an unknown one.
final class BoardController: Sendable {
    let repository: BoardRepository
    let boards: BoardCache
    let hub: BoardHub
    let accounts: Accounts
    let logger: Logger
    /// Open event streams per session (a page holds one; reloads and tabs add more), and per
    /// account whatever its sessions (a supervisor's second device; logging in again and again
    /// does not add boards).
    let streams = StreamSlots(limit: maximumStreamsPerSession)
    let accountStreams = StreamSlots(limit: maximumStreamsPerAccount)
    static let maximumStreamsPerSession = 4
    static let maximumStreamsPerAccount = 8

    init(repository: BoardRepository, boards: BoardCache, hub: BoardHub, accounts: Accounts, logger: Logger) {
        self.repository = repository
        self.boards = boards
        self.hub = hub
        self.accounts = accounts
        self.logger = logger
    }

    func addRoutes(to group: RouterGroup<ConsoleRequestContext>) {
        group.get("labels") { _, _ in
            JSONBody.response(try await self.repository.labelsWithVocabulary())
        }
        // The outlines of the account's zones, for the map (the statistics office's boundaries).
        group.get("outlines") { _, context in
            let session = try context.requireBoardSession()
            let body = self.repository.outlines?.json(for: session.account.zones) ?? .object(JSONObject())
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "private, max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(bytes: body.serializedBytes)))
        }
        group.get("board") { request, context in
            let zones = try await self.scope(request, try context.requireBoardSession())
            return JSONBody.response(try await self.repository.board(zones: zones))
        }
        group.get("events") { request, context in
            let session = try context.requireBoardSession()
            let zones = try await self.scope(request, session)
            guard let slot = self.streams.take(session.token) else {
                throw Problem(
                    .rateLimited, "at most \(Self.maximumStreamsPerSession) live boards per session", retryAfter: 5)
            }
            guard let accountSlot = self.accountStreams.take(session.account.id) else {
                throw Problem(
                    .rateLimited, "at most \(Self.maximumStreamsPerAccount) live boards per account", retryAfter: 5)
            }
            return self.events(session: session, zones: zones, slots: [slot, accountSlot])
        }
        group.get("cases/{id}") { _, context in
            let session = try context.requireBoardSession()
            guard
                let detail = try await self.repository.detail(
                    caseID: try context.caseID(), zones: session.account.zones)
            else { throw Problem(.notFound, "no such case in your zones") }
            // A child-protection body works on the children referred to it: an adult's case of its
            // provinces is on its board without what anyone said or wrote about the person.
            if session.account.role == .childProtection, detail.referral == nil {
                return JSONBody.response(detail.withoutFreeText())
            }
            return JSONBody.response(detail)
        }
        // A case's personal data: one logged read each time (the page asks on the operator's click).
        group.get("cases/{id}/personal") { _, context in
            let session = try context.requireBoardSession()
            guard
                let text = try await self.repository.personalData(
                    caseID: try context.caseID(), operatorID: session.account.id)
            else { throw Problem(.notFound, "no such case in your zones") }
            return Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        // Who read a case's personal data: supervisors of the case's zone only.
        group.get("cases/{id}/reads") { _, context in
            let session = try context.requireSession()
            let id = try context.caseID()
            guard let (zone, _) = try await self.repository.zone(of: id), session.account.mayAct(in: zone) else {
                throw Problem(.notFound, "no such case in your zones")
            }
            guard session.account.role == .supervisor else {
                throw Problem(.forbidden, "only a supervisor sees who read a case's personal data")
            }
            return JSONBody.response(try await self.repository.personalDataReads(caseID: id))
        }
    }

    /// The zones a request asks for (`?zones=a,b` or `?region=r`), within the account's scope.
    func scope(_ request: Request, _ session: ConsoleSession) async throws -> [String] {
        let allowed = session.account.zones
        var asked = allowed
        if let zones = request.uri.queryParameters["zones"], !zones.isEmpty {
            asked = zones.split(separator: ",").map(String.init)
        } else if let region = request.uri.queryParameters["region"], !region.isEmpty {
            asked = try await repository.zones(inRegion: String(region)).filter { allowed.contains($0) }
            if asked.isEmpty { throw Problem(.forbidden, "none of your zones is in region \(region)") }
        }
        let outside = asked.filter { !allowed.contains($0) }
        guard outside.isEmpty else {
            throw Problem(.forbidden, "your account is not scoped to \(outside.joined(separator: ", "))")
        }
        // One set of zones, one board: `rabat,rabat` and `sale,rabat` are not boards of their own
        // (each distinct set is a read per change for every stream that watches it).
        return Array(Set(asked)).sorted()
    }

    /// Server-sent events: the board now, then again each time a committed batch changed it.
    func events(session: ConsoleSession, zones: [String], slots: [StreamSlots.Slot]) -> Response {
        // The slots go back when this body does: at the stream's end, or unrun if the client left
        // before the answer's head was sent.
        let body = ResponseBody { [boards, hub, accounts, logger, slots] writer in
            defer { withExtendedLifetime(slots) {} }
            var last: Board?
            var seen = hub.version
            var lastWrite = ContinuousClock.now
            var lastSessionCheck = ContinuousClock.now
            try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
            while !hub.isClosed && !Task.isCancelled {
                // Streams watching the same zones share one read per change.
                let board = try await boards.board(zones: zones, version: seen)
                if last.map({ !board.sameContent(as: $0) }) ?? true {
                    var text = "event: board\ndata: "
                    text += String(decoding: JSONBody.encode(board), as: UTF8.self)
                    text += "\n\n"
                    try await writer.write(ByteBuffer(string: text))
                    last = board
                    lastWrite = .now
                } else if ContinuousClock.now - lastWrite > .seconds(15) {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    lastWrite = .now
                }
                if ContinuousClock.now - lastSessionCheck > .seconds(60) {
                    // Logged out, expired, or no longer scoped to these zones: the stream ends.
                    guard let current = try await accounts.session(token: session.token),
                        zones.allSatisfy(current.account.zones.contains)
                    else { break }
                    lastSessionCheck = .now
                }
                // Changes closer together than 100 ms are sent as one board.
                seen = await hub.wait(after: seen, timeout: .seconds(5))
                try? await Task.sleep(for: .milliseconds(100))
            }
            logger.debug("event stream ended", metadata: ["operator.id": "\(session.account.id)"])
            try await writer.finish(nil)
        }
        return .eventStream(body)
    }
}
