import Foundation
import SamuModel

/// Mutual aid that dispatches: a case of this area that waits past its threshold asks the nearest
/// neighbour area for a unit, and the neighbour's dispatcher, the single writer of its units,
/// offers one, holds it, and lends it once the request is accepted. See ``AidMessage``.
///
/// No unit ever has two writers: the lender alone decides what its unit does (offered, lent,
/// free again); the requester counts the unit as assigned only after the lender confirmed the loan,
/// and follows the crew through the statuses the lender relays. An offer not accepted in time, or
/// a request not answered in time, lapses on its own side: the unit goes back to its area, and the
/// case asks the next neighbour or waits.
extension ZoneDispatcher {
    /// Requester side: a waiting case's request to one neighbour.
    struct AidRequest: Sendable {
        var requestID: UUID
        var to: String
        var deadline: Duration
        /// Neighbours asked so far, in order.
        var tried: [String]
        var accepted: Bool
        var unitID: String?
    }

    /// Lender side: a unit offered (held) or lent to another area's case.
    struct Loan: Sendable {
        var caseID: UUID
        var requester: String
        var unit: Int
        var confirmed: Bool
        /// An offer not accepted by then lapses.
        var expires: Duration
        /// The crew left the case: the unit comes home once the requester has released it (its
        /// assignment there ended), never before, so that no unit is ever on two cases.
        var ending = false
    }

    var hasForeignUnits: Bool { foreignUnits > 0 }

    /// The zone a message to `area` names.
    func zone(ofArea area: String) -> String { configuration.areaZones[area] ?? area }

    func message(
        _ kind: AidMessage.Kind, requestID: UUID, caseID: UUID, to area: String, unit: Int? = nil,
        reason: String? = nil
    ) -> AidMessage {
        var message = AidMessage(
            kind: kind, requestID: requestID, caseID: caseID, fromArea: zone, toArea: area,
            zone: zone(ofArea: area), reason: reason)
        if let unit {
            message.unitID = units[unit].id
            message.unitPosition = units[unit].position
            message.unitSkills = units[unit].skills.skills
            message.status = units[unit].status
        }
        return message
    }

    func exchange(
        _ requestID: UUID, side: AidExchange.Side, peer: String, caseID: UUID, unitID: String?,
        _ status: AidExchange.Status
    ) -> DispatchAction {
        .aidExchange(
            AidExchange(
                requestID: requestID, side: side, area: zone, peerArea: peer, caseID: caseID, unitID: unitID,
                status: status))
    }

    // MARK: - Requester

    /// Asks the next neighbour not asked yet for a unit (none left: the case waits, as before).
    mutating func askForAid(_ caseID: UUID, at time: DispatchInstant) -> [DispatchAction] {
        guard let state = cases[caseID], case .queued = state.phase else { return [] }
        let tried = aidRequests[caseID]?.tried ?? []
        guard let next = configuration.neighbours.first(where: { !tried.contains($0) }) else {
            aidRequests[caseID] = nil
            return []
        }
        let requestID = UUID(v5: "aid/\(caseID.lowercased)/\(next)/\(tried.count)")
        aidRequests[caseID] = AidRequest(
            requestID: requestID, to: next, deadline: time.monotonic + configuration.aidTimeout,
            tried: tried + [next], accepted: false)
        var request = message(.request, requestID: requestID, caseID: caseID, to: next)
        request.priority = state.triaged.triage.priority
        request.location = state.triaged.location
        request.requiredSkills = state.triaged.triage.requiredSkills
        return [
            .aid(request), exchange(requestID, side: .requester, peer: next, caseID: caseID, unitID: nil, .requested),
        ]
    }

    /// A request that lapsed (or whose case no longer waits) is withdrawn; a case still waiting
    /// asks the next neighbour.
    mutating func endRequest(
        _ caseID: UUID, reason: String, askNext: Bool, at time: DispatchInstant
    )
        -> [DispatchAction]
    {
        guard let request = aidRequests[caseID] else { return [] }
        var actions: [DispatchAction] = [
            .aid(message(.withdraw, requestID: request.requestID, caseID: caseID, to: request.to, reason: reason)),
            exchange(request.requestID, side: .requester, peer: request.to, caseID: caseID, unitID: nil, .ended),
        ]
        if askNext {
            actions += askForAid(caseID, at: time)
        } else {
            aidRequests[caseID] = nil
        }
        return actions
    }

    // MARK: - Messages

    /// A message from another area's worker.
    public mutating func apply(_ message: AidMessage, at time: DispatchInstant) -> [DispatchAction] {
        switch message.kind {
        case .request: return lend(message, at: time)
        case .accept: return accepted(message, at: time)
        case .offer: return offered(message, at: time)
        case .confirm: return confirmed(message, at: time)
        case .unitStatus: return relayed(message, at: time)
        case .withdraw:
            if loans[message.requestID] != nil { return lenderWithdrawn(message) }
            return requesterWithdrawn(message, at: time)
        }
    }

    /// Lender: a neighbour's case waits. Offer the nearest free unit with the skills, unless this
    /// area has urgent cases waiting itself.
    mutating func lend(_ request: AidMessage, at time: DispatchInstant) -> [DispatchAction] {
        func no(_ reason: String) -> [DispatchAction] {
            [
                .aid(
                    message(
                        .withdraw, requestID: request.requestID, caseID: request.caseID, to: request.fromArea,
                        reason: reason))
            ]
        }
        if loans[request.requestID] != nil { return [] }  // asked again (a redelivery): the offer stands
        let urgent = waiting.contains { cases[$0].map { $0.triaged.triage.priority <= .p2 } ?? false }
        if urgent { return no("area \(zone) has urgent cases waiting") }
        guard let location = request.location else { return no("the request has no location") }
        let needed = SkillMask(request.requiredSkills)
        var best: (index: Int, kilometres: Double)?
        for index in units.indices {
            let unit = units[index]
            guard unit.status.isFree, unit.assignment == nil, !unit.unresponsive, unit.lentBy == nil,
                unit.skills.contains(needed)
            else { continue }
            let kilometres = unit.position.haversineKilometres(to: location)
            if best == nil || (kilometres, unit.id) < (best!.kilometres, units[best!.index].id) {
                best = (index, kilometres)
            }
        }
        guard let best else { return no("no fitting free unit in \(zone)") }
        units[best.index].assignment = request.caseID
        units[best.index].lentTo = request.requestID
        loans[request.requestID] = Loan(
            caseID: request.caseID, requester: request.fromArea, unit: best.index, confirmed: false,
            expires: time.monotonic + configuration.aidTimeout)
        var offer = message(
            .offer, requestID: request.requestID, caseID: request.caseID, to: request.fromArea, unit: best.index)
        offer.travelSeconds = best.kilometres / configuration.unitSpeedKilometresPerHour * 3600
        return [
            .aid(offer),
            exchange(
                request.requestID, side: .lender, peer: request.fromArea, caseID: request.caseID,
                unitID: units[best.index].id, .offered),
        ]
    }

    /// Lender: the requester wants the offered unit. Lent, if the offer still holds.
    mutating func accepted(_ accept: AidMessage, at time: DispatchInstant) -> [DispatchAction] {
        guard var loan = loans[accept.requestID], loan.expires > time.monotonic || loan.confirmed else {
            return [
                .aid(
                    message(
                        .withdraw, requestID: accept.requestID, caseID: accept.caseID, to: accept.fromArea,
                        reason: "the offer lapsed"))
            ]
        }
        if loan.confirmed { return [] }  // a redelivered acceptance
        loan.confirmed = true
        loans[accept.requestID] = loan
        return [
            .aid(
                message(.confirm, requestID: accept.requestID, caseID: loan.caseID, to: loan.requester, unit: loan.unit)
            ),
            exchange(
                accept.requestID, side: .lender, peer: loan.requester, caseID: loan.caseID,
                unitID: units[loan.unit].id, .confirmed),
        ]
    }

    /// Lender: the requester no longer wants the unit (or never will): it is this area's again.
    mutating func lenderWithdrawn(_ withdraw: AidMessage) -> [DispatchAction] {
        guard let loan = loans.removeValue(forKey: withdraw.requestID) else { return [] }
        freeLent(loan, requestID: withdraw.requestID)
        return [
            exchange(
                withdraw.requestID, side: .lender, peer: loan.requester, caseID: loan.caseID,
                unitID: units[loan.unit].id, .ended)
        ]
    }

    mutating func freeLent(_ loan: Loan, requestID: UUID) {
        guard units[loan.unit].lentTo == requestID else { return }
        units[loan.unit].lentTo = nil
        units[loan.unit].assignment = nil
    }

    /// Lender: a lent (or offered) crew reported. Its status goes to the requester; a crew free
    /// again ends the loan once the requester releases it, and an offered crew going off duty
    /// withdraws the offer.
    mutating func lentUnitReported(
        _ index: Int, requestID: UUID, update: UnitUpdate, at time: DispatchInstant
    )
        -> [DispatchAction]
    {
        guard let loan = loans[requestID] else {
            units[index].lentTo = nil
            units[index].assignment = nil
            return []
        }
        let over = [.available, .returning, .offDuty].contains(update.status)
        if !loan.confirmed {
            guard update.status == .offDuty else { return [] }
            loans[requestID] = nil
            freeLent(loan, requestID: requestID)
            return [
                .aid(
                    message(
                        .withdraw, requestID: requestID, caseID: loan.caseID, to: loan.requester,
                        reason: "unit \(units[index].id) went off duty")),
                exchange(
                    requestID, side: .lender, peer: loan.requester, caseID: loan.caseID, unitID: units[index].id, .ended
                ),
            ]
        }
        if loan.ending { return [] }  // already on its way home, waiting for the release
        var status = message(.unitStatus, requestID: requestID, caseID: loan.caseID, to: loan.requester, unit: index)
        status.resolution = update.resolution
        if over { loans[requestID]?.ending = true }
        return [.aid(status)]
    }

    /// Requester: a neighbour offers a unit. Accepted if the case still waits for it.
    mutating func offered(_ offer: AidMessage, at time: DispatchInstant) -> [DispatchAction] {
        guard var request = aidRequests[offer.caseID], request.requestID == offer.requestID, !request.accepted,
            let state = cases[offer.caseID], case .queued = state.phase
        else {
            return [
                .aid(
                    message(
                        .withdraw, requestID: offer.requestID, caseID: offer.caseID, to: offer.fromArea,
                        reason: "no longer needed"))
            ]
        }
        request.accepted = true
        request.unitID = offer.unitID
        request.deadline = time.monotonic + configuration.aidTimeout
        aidRequests[offer.caseID] = request
        return [
            .aid(message(.accept, requestID: offer.requestID, caseID: offer.caseID, to: offer.fromArea)),
            exchange(
                offer.requestID, side: .requester, peer: offer.fromArea, caseID: offer.caseID, unitID: offer.unitID,
                .accepted),
        ]
    }

    /// Requester: the neighbour lent the unit. The case is assigned to it, if it still waits;
    /// otherwise the unit goes back at once.
    mutating func confirmed(_ confirm: AidMessage, at time: DispatchInstant) -> [DispatchAction] {
        guard let request = aidRequests[confirm.caseID], request.requestID == confirm.requestID,
            let unitID = confirm.unitID, let state = cases[confirm.caseID], case .queued = state.phase
        else {
            if aidRequests[confirm.caseID]?.requestID == confirm.requestID { aidRequests[confirm.caseID] = nil }
            return [
                .aid(
                    message(
                        .withdraw, requestID: confirm.requestID, caseID: confirm.caseID, to: confirm.fromArea,
                        reason: "no longer needed")),
                exchange(
                    confirm.requestID, side: .requester, peer: confirm.fromArea, caseID: confirm.caseID,
                    unitID: confirm.unitID, .ended),
            ]
        }
        aidRequests[confirm.caseID] = nil
        let index = foreignUnit(
            unitID, from: confirm.fromArea, requestID: confirm.requestID, caseID: confirm.caseID,
            position: confirm.unitPosition ?? state.triaged.location, skills: confirm.unitSkills,
            status: confirm.status ?? .available)
        let travel =
            (confirm.unitPosition ?? state.triaged.location).haversineKilometres(to: state.triaged.location)
            / configuration.unitSpeedKilometresPerHour * 3600
        var actions = assign(
            confirm.caseID, unit: index,
            candidates: [Candidate(id: unitID, travelSeconds: travel, score: travel)], candidateCount: 1,
            kind: .assign, joint: false,
            reason:
                "mutual aid: unit \(unitID) lent by area \(confirm.fromArea) (request \(request.tried.count) of the case)",
            at: time, from: .queued)
        actions.append(
            exchange(
                confirm.requestID, side: .requester, peer: confirm.fromArea, caseID: confirm.caseID, unitID: unitID,
                .confirmed))
        return actions
    }

    /// The projection of another area's unit lent to a case here.
    mutating func foreignUnit(
        _ unitID: String, from area: String, requestID: UUID, caseID: UUID, position: GeoPoint,
        skills: Set<CrewSkill>, status: UnitStatus
    ) -> Int {
        let (x, y) = project(position)
        let index: Int
        if let known = unitIndex[unitID] {
            index = known
        } else {
            index = units.count
            unitIndex[unitID] = index
            units.append(
                UnitState(
                    id: unitID, skills: SkillMask(skills), status: status, position: position, x: x, y: y, version: 0,
                    assignment: nil, unresponsive: false))
        }
        if units[index].loanRequest == nil { foreignUnits += 1 }
        units[index].lentBy = area
        units[index].loanRequest = requestID
        units[index].loanCase = caseID
        units[index].status = status
        units[index].position = position
        units[index].x = x
        units[index].y = y
        units[index].skills = SkillMask(skills)
        return index
    }

    /// Requester: the lent crew's status, relayed by its area: the case moves on as with a crew of
    /// its own.
    mutating func relayed(_ status: AidMessage, at time: DispatchInstant) -> [DispatchAction] {
        guard let unitID = status.unitID, let index = unitIndex[unitID], units[index].loanRequest == status.requestID,
            let caseID = units[index].assignment, caseID == status.caseID, let reported = status.status
        else {
            return [.rejected(reason: "a lent crew's status for a loan this area does not hold (\(status.requestID))")]
        }
        let position = status.unitPosition ?? units[index].position
        let (x, y) = project(position)
        units[index].position = position
        units[index].x = x
        units[index].y = y
        units[index].status = reported
        return advance(
            caseID, unit: index,
            with: UnitUpdate(
                unitID: unitID, version: 0, status: reported, position: position, caseID: caseID,
                resolution: status.resolution),
            at: time)
    }

    /// Requester: the neighbour has no unit, or the offer lapsed, or the loan is over.
    mutating func requesterWithdrawn(_ withdraw: AidMessage, at time: DispatchInstant) -> [DispatchAction] {
        if let request = aidRequests[withdraw.caseID], request.requestID == withdraw.requestID {
            var actions: [DispatchAction] = [
                exchange(
                    withdraw.requestID, side: .requester, peer: withdraw.fromArea, caseID: withdraw.caseID,
                    unitID: request.unitID, .ended)
            ]
            actions += askForAid(withdraw.caseID, at: time)
            return actions
        }
        // A lent unit taken back: the case looks for another unit.
        guard let unitID = withdraw.unitID ?? units.first(where: { $0.loanRequest == withdraw.requestID })?.id,
            let index = unitIndex[unitID], units[index].loanRequest == withdraw.requestID
        else { return [] }
        let caseID = units[index].assignment
        units[index].assignment = nil
        units[index].loanRequest = nil
        units[index].status = .offDuty
        foreignUnits -= 1
        var actions: [DispatchAction] = [
            exchange(
                withdraw.requestID, side: .requester, peer: withdraw.fromArea, caseID: caseID ?? withdraw.caseID,
                unitID: unitID, .ended)
        ]
        guard let caseID, let state = cases[caseID], state.phase.unitID == unitID else { return actions }
        actions += dispatch(
            caseID, kind: .reassign, excluding: unitID, at: time, from: state.phase.status,
            reasonPrefix: "area \(withdraw.fromArea) took unit \(unitID) back (\(withdraw.reason ?? "withdrawn"))")
        return actions
    }

    // MARK: - Timers and settling

    /// Requests not answered in time ask the next neighbour; offers not accepted in time lapse.
    mutating func aidTimers(at time: DispatchInstant) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        let now = time.monotonic
        for caseID in aidRequests.keys.sorted(by: { $0.orderKey < $1.orderKey }) {
            guard let request = aidRequests[caseID], request.deadline <= now else { continue }
            actions += endRequest(
                caseID, reason: request.accepted ? "no confirmation in time" : "no offer in time", askNext: true,
                at: time)
        }
        for requestID in loans.keys.sorted(by: { $0.orderKey < $1.orderKey }) {
            guard let loan = loans[requestID], !loan.confirmed, loan.expires <= now else { continue }
            loans[requestID] = nil
            freeLent(loan, requestID: requestID)
            actions.append(
                .aid(
                    message(
                        .withdraw, requestID: requestID, caseID: loan.caseID, to: loan.requester,
                        reason: "the offer lapsed")))
            actions.append(
                exchange(
                    requestID, side: .lender, peer: loan.requester, caseID: loan.caseID, unitID: units[loan.unit].id,
                    .ended))
        }
        return actions
    }

    /// After every batch: requests of cases that no longer wait are withdrawn (a unit of the area
    /// freed up first), and lent units no longer on a case here go back to their area.
    mutating func settleAid(at time: DispatchInstant) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        for caseID in aidRequests.keys.sorted(by: { $0.orderKey < $1.orderKey }) {
            if let state = cases[caseID], case .queued = state.phase { continue }
            actions += endRequest(caseID, reason: "no longer needed", askNext: false, at: time)
        }
        guard foreignUnits > 0 else { return actions }
        for index in units.indices {
            guard let requestID = units[index].loanRequest, let area = units[index].lentBy else { continue }
            if let caseID = units[index].assignment, cases[caseID]?.phase.unitID == units[index].id { continue }
            // The case ended or moved to another unit: the crew is its area's again.
            guard let caseID = units[index].loanCase ?? units[index].assignment else { continue }
            units[index].assignment = nil
            units[index].loanRequest = nil
            units[index].status = .offDuty
            foreignUnits -= 1
            actions.append(
                .aid(
                    message(
                        .withdraw, requestID: requestID, caseID: caseID, to: area,
                        reason: "the case no longer needs the unit")))
            actions.append(
                exchange(requestID, side: .requester, peer: area, caseID: caseID, unitID: units[index].id, .ended))
        }
        return actions
    }

    // MARK: - Restore

    /// Exchanges in flight when the zone was taken over, before its cases are restored: units
    /// offered or lent go on being so; lent units of other areas are projected again; requests
    /// wait a full timeout again.
    mutating func restoreAid(_ exchanges: [AidExchange], locations: [UUID: GeoPoint], at time: DispatchInstant) {
        for exchange in exchanges.sorted(by: { $0.requestID.orderKey < $1.requestID.orderKey }) {
            switch (exchange.side, exchange.status) {
            case (.lender, .offered), (.lender, .confirmed):
                guard let unitID = exchange.unitID, let index = unitIndex[unitID], units[index].assignment == nil else {
                    continue
                }
                units[index].assignment = exchange.caseID
                units[index].lentTo = exchange.requestID
                loans[exchange.requestID] = Loan(
                    caseID: exchange.caseID, requester: exchange.peerArea, unit: index,
                    confirmed: exchange.status == .confirmed, expires: time.monotonic + configuration.aidTimeout)
            case (.requester, .confirmed):
                guard let unitID = exchange.unitID, let location = locations[exchange.caseID] else { continue }
                // Where the crew is comes with its next status; until then, the case's place.
                _ = foreignUnit(
                    unitID, from: exchange.peerArea, requestID: exchange.requestID, caseID: exchange.caseID,
                    position: location, skills: [],
                    status: .enRoute)
            case (.requester, .requested), (.requester, .accepted):
                aidRequests[exchange.caseID] = AidRequest(
                    requestID: exchange.requestID, to: exchange.peerArea,
                    deadline: time.monotonic + configuration.aidTimeout, tried: [exchange.peerArea],
                    accepted: exchange.status == .accepted, unitID: exchange.unitID)
            default:
                continue
            }
        }
    }
}

extension SkillMask {
    /// The skills of the mask.
    var skills: Set<CrewSkill> {
        Set(CrewSkill.allCases.enumerated().filter { bits & (1 << UInt16($0.offset)) != 0 }.map(\.element))
    }
}
