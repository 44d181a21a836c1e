import Foundation

/// A realistic night of hotline reports, crew and shelter updates for the load generator
/// (`samu simulate`): when reports come (by hour), what they are about (the category mix), how a
/// cold wave multiplies them, and where (the deployment's zones). Deterministic for a seed.
public struct NightProfile: Sendable {
    /// Relative report rates by local hour, 0...23: about 80 % of a day's reports fall between
    /// 19:00 and 07:00, peaking around midnight (a design assumption: the sources give no figures).
    public static let hourlyWeights: [Double] = [
        9, 9, 8, 7, 6, 5, 4,  // 00–06
        2, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 2,  // 07–18
        4, 6, 8, 9, 9,  // 19–23
    ]

    /// The report categories and their shares (a design assumption, labelled as such in the README).
    public static let categoryMix: [(BeneficiaryCategory, Double)] = [
        (.homelessAdult, 0.40), (.childStreetSituation, 0.18), (.isolatedElderly, 0.17),
        (.womanViolenceVictim, 0.10), (.mentalDistress, 0.09), (.personWithDisability, 0.06),
    ]

    /// The share of a day's reports that fall between 19:00 and 07:00.
    public static var nightShare: Double {
        let total = hourlyWeights.reduce(0, +)
        let night = (0..<24).filter { $0 >= 19 || $0 < 7 }.map { hourlyWeights[$0] }.reduce(0, +)
        return night / total
    }

    /// How much a cold night multiplies reports, relative to a normal one: ×1 at 0 °C and above,
    /// ×2 at −8 °C, ×3 at −12 °C and below, linear in between.
    public static func coldWaveMultiplier(temperature: Double) -> Double {
        switch temperature {
        case 0...: 1
        case -8..<0: 1 + (-temperature) / 8
        case -12 ..< -8: 2 + (-8 - temperature) / 4
        default: 3
        }
    }

    /// The relative rate at `hour` and `temperature` (1 = an average hour of a normal day).
    public static func relativeRate(hour: Int, temperature: Double) -> Double {
        let mean = hourlyWeights.reduce(0, +) / 24
        return hourlyWeights[((hour % 24) + 24) % 24] / mean * coldWaveMultiplier(temperature: temperature)
    }
}

/// Builds the events of a simulated night.
public struct NightGenerator: Sendable {
    public let deployment: Deployment
    public let temperature: Double
    public var random: SplitMix64
    private var unitVersions: [String: Int64] = [:]
    private var shelterVersions: [String: Int64] = [:]

    public init(deployment: Deployment, temperature: Double, seed: UInt64) {
        self.deployment = deployment
        self.temperature = temperature
        self.random = SplitMix64(seed: seed)
    }

    private mutating func pick<T>(_ weighted: [(T, Double)]) -> T {
        let total = weighted.reduce(0) { $0 + $1.1 }
        var draw = random.double(in: 0...total)
        for (value, weight) in weighted {
            if draw <= weight { return value }
            draw -= weight
        }
        return weighted[weighted.count - 1].0
    }

    private mutating func near(_ centre: GeoPoint, kilometres: Double) -> GeoPoint {
        let north = random.double(in: -kilometres...kilometres) / 111.19
        let east = random.double(in: -kilometres...kilometres) / (111.19 * cos(centre.latitude * .pi / 180))
        return GeoPoint(
            latitude: ((centre.latitude + north) * 10_000).rounded() / 10_000,
            longitude: ((centre.longitude + east) * 10_000).rounded() / 10_000)
    }

    /// The hour a report of the night falls in, drawn from the hourly profile.
    public mutating func hour() -> Int {
        pick(NightProfile.hourlyWeights.enumerated().map { ($0.offset, $0.element) })
    }

    /// One valid hotline report (version 1), reported at `time`.
    public mutating func report(at time: Date) -> JSONValue {
        let zone = deployment.zones[Int(random.next() % UInt64(deployment.zones.count))]
        let category = pick(NightProfile.categoryMix)
        let age: Int64
        var factors: [String] = []
        switch category {
        case .childStreetSituation:
            age = Int64(6 + random.next() % 12)
            factors.append("alone_at_night")
        case .isolatedElderly: age = Int64(65 + random.next() % 26)
        case .womanViolenceVictim:
            age = Int64(18 + random.next() % 40)
            if random.next() % 3 == 0 { factors.append("violence_in_progress") }
            if random.next() % 3 == 0 { factors.append("with_children") }
        default: age = Int64(18 + random.next() % 60)
        }
        if temperature < 5 { factors.append("cold_exposure") }
        if random.next() % 8 == 0 { factors.append("injury") }
        let position = near(zone.centroid, kilometres: 4)
        let sex = category == .womanViolenceVictim ? "female" : (random.next() % 4 == 0 ? "female" : "male")
        return [
            "schema_version": 1,
            "event_id": .string(UUID(v5: "simulate/\(random.next())").lowercased),
            "reported_at": .string(RFC3339.format(time)),
            "zone": .string(zone.zone),
            "category": .string(category.rawValue),
            "location": ["lat": .number(position.latitude), "lon": .number(position.longitude)],
            "person": ["age": .integer(age), "sex": .string(sex), "count": 1],
            "factors": .array(factors.map { .string($0) }),
            "temperature_c": .number(temperature),
            "channel": "hotline",
            "language": "ary",
        ]
    }

    /// A crew's status update: available again somewhere in its zone (with a higher version).
    public mutating func unitUpdate(at time: Date) -> (zone: String, event: JSONValue) {
        let unit = deployment.units[Int(random.next() % UInt64(deployment.units.count))]
        let version = (unitVersions[unit.unitID] ?? Int64(time.timeIntervalSince1970 * 1000)) + 1
        unitVersions[unit.unitID] = version
        let position = near(unit.base, kilometres: 2)
        return (
            unit.zone,
            [
                "schema_version": 1, "event_id": .string(UUID(v5: "simulate/unit/\(random.next())").lowercased),
                "zone": .string(unit.zone), "unit_id": .string(unit.unitID), "version": .integer(version),
                "status": "available",
                "position": ["lat": .number(position.latitude), "lon": .number(position.longitude)],
                "reported_at": .string(RFC3339.format(time)),
            ]
        )
    }

    /// A shelter's bed counts, with some beds occupied.
    public mutating func bedUpdate(at time: Date) -> (zone: String, event: JSONValue) {
        let shelter = deployment.shelters[Int(random.next() % UInt64(deployment.shelters.count))]
        let version = (shelterVersions[shelter.shelterID] ?? Int64(time.timeIntervalSince1970 * 1000)) + 1
        shelterVersions[shelter.shelterID] = version
        var beds = JSONObject()
        for (bed, capacity) in shelter.beds.sorted(by: { $0.key < $1.key }) {
            let occupied = capacity == 0 ? 0 : Int64(random.next() % UInt64(capacity + 1)) / 2
            beds.append(bed.rawValue, ["capacity": .integer(Int64(capacity)), "occupied": .integer(occupied)])
        }
        return (
            shelter.zone,
            [
                "schema_version": 1, "event_id": .string(UUID(v5: "simulate/bed/\(random.next())").lowercased),
                "zone": .string(shelter.zone), "shelter_id": .string(shelter.shelterID), "version": .integer(version),
                "location": ["lat": .number(shelter.location.latitude), "lon": .number(shelter.location.longitude)],
                "beds": .object(beds), "reported_at": .string(RFC3339.format(time)),
            ]
        )
    }
}
