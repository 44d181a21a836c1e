import ArgumentParser
import Foundation
import SamuDispatchCore
import SamuModel

@main
struct SamuBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samu-bench", abstract: "samu's benchmarks (build with -c release; see ops/bench.sh).",
        subcommands: [
            BenchSuite.self, DispatchBench.self, HopsBench.self, PipelineBench.self, TracedWorkerCommand.self,
        ])
}

/// The dispatch core against a linear haversine scan of the same data, in one run.
struct DispatchBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch",
        abstract:
            "Decision latency (75 zones, 1,000 units, 500 shelters) and joint assignment (100 cases, 1,000 units).")

    @Option(help: "Decisions to time.") var decisions = 20_000
    @Option(help: "Joint-assignment rounds to time.") var rounds = 20
    @Option(help: "Random seed (the same seed gives the same data).") var seed: UInt64 = 2026
    @Flag(help: "Skip the baseline and the joint rounds (for allocation counts under valgrind).") var decisionsOnly =
        false

    func run() async throws {
        var random = SplitMix64(seed: seed)
        let world = BenchWorld(random: &random)
        let cases = (0..<decisions).map { index in world.randomCase(index, random: &random) }

        var zones = world.dispatchers()
        var samu: [Double] = []
        samu.reserveCapacity(cases.count)
        let clock = ContinuousClock()
        var assigned = 0
        for (index, triaged) in cases.enumerated() {
            let time = DispatchInstant(wall: Date(timeIntervalSince1970: 1_768_443_000), monotonic: .seconds(index))
            let start = clock.now
            let actions = zones[triaged.zone]!.submit(triaged, at: time)
            let elapsed = clock.now - start
            samu.append(Self.nanoseconds(elapsed))
            if actions.contains(where: { if case .phaseChanged(_, _, .assigned, _) = $0 { true } else { false } }) {
                assigned += 1
            }
            // Free the unit and bed again (not timed), so every decision sees the same supply.
            _ = zones[triaged.zone]!.apply(
                OperatorCommand(caseID: triaged.caseID, action: .cancel, operatorID: "bench", reason: "bench"), at: time
            )
        }
        print(
            "samu bench dispatch — \(ProcessInfo.processInfo.hostName), \(ProcessInfo.processInfo.activeProcessorCount) cores"
        )
        print(
            "data: \(world.zones.count) zones, \(world.units.count) units, \(world.shelters.count) shelters; \(cases.count) decisions (\(assigned) with a unit)"
        )
        print(Self.row("samu: zone dispatcher (unit + bed)", samu))
        if decisionsOnly { return }

        var baseline: [Double] = []
        baseline.reserveCapacity(cases.count)
        var checksum = 0.0
        let flat = world.flat()
        let inputs = cases.map { triaged in
            (
                triaged,
                triaged.triage.requiredSkills.reduce(UInt16(0)) {
                    $0 | 1 << UInt16(CrewSkill.allCases.firstIndex(of: $1)!)
                },
                BedType.allCases.firstIndex(of: triaged.triage.bedType)!
            )
        }
        for (triaged, required, bed) in inputs {
            let start = clock.now
            checksum += BenchWorld.haversineScan(triaged, flat, required: required, bed: bed)
            baseline.append(Self.nanoseconds(clock.now - start))
        }
        print(Self.row("baseline: linear haversine scan", baseline))
        let p = { (values: [Double], q: Double) in Self.percentile(values, q) }
        print(
            String(
                format: "ratio baseline/samu: p50 %.1f×, p99 %.1f×   (checksum %.0f)", p(baseline, 0.5) / p(samu, 0.5),
                p(baseline, 0.99) / p(samu, 0.99), checksum))

        // Joint assignment: 100 waiting cases meet 1,000 units freed in one batch.
        var jointTimes: [Double] = []
        var gaps: [Double] = []
        for round in 0..<rounds {
            var zone = ZoneDispatcher(zone: "metro")
            let centre = GeoPoint(latitude: 33.57, longitude: -7.59)
            var units: [(String, GeoPoint)] = []
            for index in 0..<1000 {
                let position = world.jitter(centre, kilometres: 20, random: &random)
                units.append(("m-u\(index)", position))
                _ = zone.apply(
                    UnitUpdate(unitID: "m-u\(index)", version: 1, status: .onScene, position: position, skills: []),
                    at: DispatchInstant(wall: Date(), monotonic: .zero))
            }
            var waiting: [TriagedCase] = []
            for index in 0..<100 {
                let triaged = world.triaged(
                    id: UUID(v5: "joint/\(round)/\(index)"), zone: "metro",
                    at: world.jitter(centre, kilometres: 20, random: &random),
                    priority: .p2, skills: [], bed: .men, received: Double(index))
                waiting.append(triaged)
                _ = zone.submit(triaged, at: DispatchInstant(wall: Date(), monotonic: .zero))
            }
            for (id, position) in units {
                _ = zone.apply(
                    UnitUpdate(unitID: id, version: 2, status: .available, position: position),
                    at: DispatchInstant(wall: Date(), monotonic: .seconds(1)))
            }
            let start = clock.now
            let actions = zone.settle(at: DispatchInstant(wall: Date(), monotonic: .seconds(1)))
            jointTimes.append(Self.nanoseconds(clock.now - start))
            let joint = actions.compactMap { action -> Double? in
                if case .decided(let record) = action { return record.unitTravelSeconds }
                return nil
            }.reduce(0, +)
            // First come, first served: each case in turn takes the nearest free unit.
            var free = units
            var greedy = 0.0
            for triaged in waiting {
                let best = free.indices.min {
                    Self.flat(free[$0].1, triaged.location) < Self.flat(free[$1].1, triaged.location)
                }!
                greedy += Self.flat(free[best].1, triaged.location) / 30 * 3600
                free.remove(at: best)
            }
            gaps.append((greedy - joint) / joint * 100)
        }
        print(Self.row("samu: joint assignment, 100 cases × 1,000 units", jointTimes))
        print(
            String(
                format:
                    "joint total travel is optimal (exact assignment); first-come-first-served greedy is %.1f%% longer on average (min %.1f%%, max %.1f%%)",
                gaps.reduce(0, +) / Double(gaps.count), gaps.min() ?? 0, gaps.max() ?? 0))
    }

    static func flat(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        let x = (a.longitude - b.longitude) * 111.19492664 * cos(a.latitude * .pi / 180)
        let y = (a.latitude - b.latitude) * 111.19492664
        return (x * x + y * y).squareRoot()
    }

    static func nanoseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
    }

    static func percentile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }

    static func row(_ name: String, _ values: [Double]) -> String {
        let mean = values.reduce(0, +) / Double(values.count)
        return String(
            format: "%-52@ p50 %8.2f µs  p99 %8.2f µs  p99.9 %8.2f µs  mean %8.2f µs", name as NSString,
            percentile(values, 0.5) / 1000, percentile(values, 0.99) / 1000, percentile(values, 0.999) / 1000,
            mean / 1000)
    }
}

/// 75 zones, 1,000 units and 500 shelters spread over Morocco, from a seed.
struct BenchWorld {
    struct Unit {
        var id: String
        var zone: String
        var position: GeoPoint
        var skills: Set<CrewSkill>
    }

    struct Shelter {
        var id: String
        var zone: String
        var position: GeoPoint
        var beds: [BedType: BedCount]
    }

    var zones: [(String, GeoPoint)] = []
    var units: [Unit] = []
    var shelters: [Shelter] = []

    init(random: inout SplitMix64) {
        for index in 0..<75 {
            zones.append(
                (
                    "zone-\(index)",
                    GeoPoint(latitude: random.double(in: 28...35.5), longitude: random.double(in: -10 ... -2))
                ))
        }
        for index in 0..<1000 {
            let (zone, centre) = zones[index % zones.count]
            var skills = Set<CrewSkill>()
            for skill in [CrewSkill.childProtection, .femaleStaff, .nurse] where random.double(in: 0...1) < 0.4 {
                skills.insert(skill)
            }
            units.append(
                Unit(
                    id: "u\(index)", zone: zone, position: jitter(centre, kilometres: 15, random: &random),
                    skills: skills))
        }
        for index in 0..<500 {
            let (zone, centre) = zones[index % zones.count]
            var beds: [BedType: BedCount] = [:]
            for bed in BedType.allCases {
                let capacity = Int(random.double(in: 0...30))
                beds[bed] = BedCount(capacity: capacity, occupied: capacity / 2)
            }
            shelters.append(
                Shelter(
                    id: "s\(index)", zone: zone, position: jitter(centre, kilometres: 15, random: &random), beds: beds))
        }
    }

    func jitter(_ centre: GeoPoint, kilometres: Double, random: inout SplitMix64) -> GeoPoint {
        GeoPoint(
            latitude: centre.latitude + random.double(in: -1...1) * kilometres / 111.19,
            longitude: centre.longitude + random.double(in: -1...1) * kilometres
                / (111.19 * cos(centre.latitude * .pi / 180)))
    }

    func dispatchers() -> [String: ZoneDispatcher] {
        var result: [String: ZoneDispatcher] = [:]
        let time = DispatchInstant(wall: Date(), monotonic: .zero)
        for (zone, _) in zones { result[zone] = ZoneDispatcher(zone: zone) }
        for unit in units {
            _ = result[unit.zone]!.apply(
                UnitUpdate(
                    unitID: unit.id, version: 1, status: .available, position: unit.position, skills: unit.skills),
                at: time)
        }
        for shelter in shelters {
            _ = result[shelter.zone]!.apply(
                BedUpdate(shelterID: shelter.id, version: 1, position: shelter.position, beds: shelter.beds), at: time)
        }
        return result
    }

    func triaged(
        id: UUID, zone: String, at location: GeoPoint, priority: Priority, skills: Set<CrewSkill>, bed: BedType,
        received: Double
    )
        -> TriagedCase
    {
        TriagedCase(
            caseID: id, reportID: id, zone: zone, location: location, category: .homelessAdult,
            triage: TriageDecision(
                priority: priority, requiredSkills: skills, bedType: bed, notify: [], reasons: [],
                rulesVersion: "bench",
                minor: false),
            receivedAt: Date(timeIntervalSince1970: 1_768_443_000 + received))
    }

    func randomCase(_ index: Int, random: inout SplitMix64) -> TriagedCase {
        let (zone, centre) = zones[Int(random.next() % UInt64(zones.count))]
        let skillRoll = random.double(in: 0...1)
        let skills: Set<CrewSkill> =
            skillRoll < 0.2 ? [.childProtection] : skillRoll < 0.35 ? [.femaleStaff] : skillRoll < 0.5 ? [.nurse] : []
        return triaged(
            id: UUID(v5: "bench/\(index)"), zone: zone, at: jitter(centre, kilometres: 15, random: &random),
            priority: Priority.allCases[Int(random.next() % 4)], skills: skills,
            bed: BedType.allCases[Int(random.next() % UInt64(BedType.allCases.count))], received: Double(index))
    }

    /// The same data laid out for a plain scan: positions, skill bit sets, free beds by type.
    struct Flat {
        var unitPositions: [GeoPoint]
        var unitSkills: [UInt16]
        var shelterPositions: [GeoPoint]
        var shelterFree: [[Int]]
    }

    func flat() -> Flat {
        func mask(_ skills: Set<CrewSkill>) -> UInt16 {
            skills.reduce(0) { $0 | 1 << UInt16(CrewSkill.allCases.firstIndex(of: $1)!) }
        }
        return Flat(
            unitPositions: units.map(\.position), unitSkills: units.map { mask($0.skills) },
            shelterPositions: shelters.map(\.position),
            shelterFree: shelters.map { shelter in
                BedType.allCases.map { bed in (shelter.beds[bed]?.capacity ?? 0) - (shelter.beds[bed]?.occupied ?? 0) }
            })
    }

    /// What a straightforward implementation does: scan every unit and every shelter of the
    /// country with the haversine formula (skills as bit sets, beds in arrays, no allocation).
    /// Returns the chosen distances (a checksum, so that the work is not optimised away).
    static func haversineScan(_ triaged: TriagedCase, _ flat: Flat, required: UInt16, bed: Int) -> Double {
        var bestUnit = Double.infinity
        for index in flat.unitPositions.indices where flat.unitSkills[index] & required == required {
            bestUnit = min(bestUnit, flat.unitPositions[index].haversineKilometres(to: triaged.location))
        }
        var bestShelter = Double.infinity
        for index in flat.shelterPositions.indices where flat.shelterFree[index][bed] > 0 {
            bestShelter = min(bestShelter, flat.shelterPositions[index].haversineKilometres(to: triaged.location))
        }
        return (bestUnit.isFinite ? bestUnit : 0) + (bestShelter.isFinite ? bestShelter : 0)
    }
}
