import Foundation
import Logging
import PostgresNIO
import SamuModel

/// Reference data from `seeds/` (regions, zones, labels in Arabic, French and English, the SAMU
/// social projects), loaded by `samu seed`. Loading again updates rows in place (idempotent).
public struct ReferenceData: Sendable {
    public struct Row: Sendable {
        public var code: String
        public var parent: String?
        public var nameArabic: String
        public var nameFrench: String
        public var nameEnglish: String
        public var source: String
        public var external: Bool
        public var number: Int?
        public var kind: String?
        /// The statistics office's (HCP) code, and the 2024 census.
        public var hcpCode: String?
        /// The Arabic name as the sources print it, where it differs from HCP's (``nameArabic``).
        public var arabicInSource: String?
        public var population: Int?
        public var households: Int?
    }

    /// A commune or arrondissement as the statistics office lists it (`seeds/hcp/communes.json`).
    public struct Commune: Sendable {
        public var hcpCode: String
        public var slug: String
        public var nameFrench: String
        public var nameArabic: String
        public var kind: String
        public var zone: String
        public var population: Int
        public var households: Int
    }

    public struct LoadError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { "seeds: \(message)" }
    }

    public var regions: [Row]
    public var zones: [Row]
    /// Labels by kind: beneficiary_category, facility_type, bed_type, crew_skill.
    public var labels: [String: [Row]]
    public var projects: [JSONValue]
    public var communes: [Commune]

    /// Reads the seed files from a `seeds/` folder.
    public static func load(seeds: URL) throws(LoadError) -> ReferenceData {
        func array(_ name: String) throws(LoadError) -> [JSONValue] {
            let url = seeds.appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: url.path) else {
                throw LoadError(message: "cannot read \(url.path)")
            }
            guard case .array(let rows) = try? JSONParser.parse(Array(data)) else {
                throw LoadError(message: "\(name) must be a JSON array")
            }
            return rows
        }
        func rows(_ name: String, parentKey: String? = nil) throws(LoadError) -> [Row] {
            try array(name).map { value throws(LoadError) in
                guard let code = (value["code"] ?? value["id"])?.stringValue, let ar = value["name_ar"]?.stringValue,
                    let fr = value["name_fr"]?.stringValue, let en = value["name_en"]?.stringValue
                else { throw LoadError(message: "\(name): a row lacks code or names: \(value.serialized.prefix(120))") }
                return Row(
                    code: code, parent: parentKey.flatMap { value[$0]?.stringValue }, nameArabic: ar, nameFrench: fr,
                    nameEnglish: en, source: value["source"]?.stringValue ?? "",
                    external: value["external"] == .bool(true),
                    number: value["official_number"]?.integerValue.map(Int.init), kind: value["kind"]?.stringValue,
                    hcpCode: value["hcp_code"]?.stringValue, arabicInSource: value["name_ar_in_source"]?.stringValue,
                    population: value["population_2024"]?.integerValue.map(Int.init),
                    households: value["households_2024"]?.integerValue.map(Int.init))
            }
        }
        let communes = try array("hcp/communes.json").map { value throws(LoadError) in
            guard let code = value["hcp_code"]?.stringValue, let slug = value["slug"]?.stringValue,
                let fr = value["name_fr"]?.stringValue, let ar = value["name_ar"]?.stringValue,
                let kind = value["kind"]?.stringValue, let zone = value["zone"]?.stringValue,
                let population = value["population_2024"]?.integerValue,
                let households = value["households_2024"]?.integerValue
            else { throw LoadError(message: "hcp/communes.json: a row lacks a field: \(value.serialized.prefix(120))") }
            return Commune(
                hcpCode: code, slug: slug, nameFrench: fr, nameArabic: ar, kind: kind, zone: zone,
                population: Int(population), households: Int(households))
        }
        return ReferenceData(
            regions: try rows("regions.json"),
            zones: try rows("provinces.json", parentKey: "region"),
            labels: [
                "beneficiary_category": try rows("beneficiary-categories.json", parentKey: "parent"),
                "facility_type": try rows("facility-types.json"),
                "bed_type": try rows("bed-types.json"),
                "crew_skill": try rows("crew-skills.json"),
            ],
            projects: try array("samu-projects.json"), communes: communes)
    }
}

extension SamuStore {
    /// Upserts the reference data; returns the row count per table.
    @discardableResult
    public func seed(_ data: ReferenceData) async throws -> [String: Int] {
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection -> [String: Int] in
            let r = data.regions
            try await connection.query(
                """
                insert into ref_regions (code, official_number, name_ar, name_fr, name_en, source, external)
                select c, nullif(n, 0), a, f, e, s, x from unnest(\(r.map(\.code))::text[], \(r.map { $0.number ?? 0 })::int4[],
                    \(r.map(\.nameArabic))::text[], \(r.map(\.nameFrench))::text[], \(r.map(\.nameEnglish))::text[],
                    \(r.map(\.source))::text[], \(r.map(\.external))::bool[]) as t(c, n, a, f, e, s, x)
                on conflict (code) do update set official_number = excluded.official_number, name_ar = excluded.name_ar,
                    name_fr = excluded.name_fr, name_en = excluded.name_en, source = excluded.source,
                    external = excluded.external
                """, logger: logger)
            try await Self.census(r, table: "ref_regions", connection: connection, logger: logger)
            let z = data.zones
            try await connection.query(
                """
                insert into ref_zones (code, region, kind, name_ar, name_fr, name_en, source, external)
                select * from unnest(\(z.map(\.code))::text[], \(z.map { $0.parent ?? "" })::text[],
                    \(z.map { $0.kind ?? "unspecified" })::text[], \(z.map(\.nameArabic))::text[],
                    \(z.map(\.nameFrench))::text[], \(z.map(\.nameEnglish))::text[], \(z.map(\.source))::text[],
                    \(z.map(\.external))::bool[])
                on conflict (code) do update set region = excluded.region, kind = excluded.kind, name_ar = excluded.name_ar,
                    name_fr = excluded.name_fr, name_en = excluded.name_en, source = excluded.source,
                    external = excluded.external
                """, logger: logger)
            try await Self.census(z, table: "ref_zones", connection: connection, logger: logger)
            let m = data.communes
            try await connection.query(
                """
                insert into ref_communes (hcp_code, slug, name_fr, name_ar, kind, zone, population_2024, households_2024)
                select * from unnest(\(m.map(\.hcpCode))::text[], \(m.map(\.slug))::text[], \(m.map(\.nameFrench))::text[],
                    \(m.map(\.nameArabic))::text[], \(m.map(\.kind))::text[], \(m.map(\.zone))::text[],
                    \(m.map { Int64($0.population) })::int8[], \(m.map { Int64($0.households) })::int8[])
                on conflict (hcp_code) do update set slug = excluded.slug, name_fr = excluded.name_fr,
                    name_ar = excluded.name_ar, kind = excluded.kind, zone = excluded.zone,
                    population_2024 = excluded.population_2024, households_2024 = excluded.households_2024
                """, logger: logger)
            var labelCount = 0
            for (kind, rows) in data.labels.sorted(by: { $0.key < $1.key }) {
                labelCount += rows.count
                try await connection.query(
                    """
                    insert into ref_labels (kind, code, parent, name_ar, name_fr, name_en, source)
                    select \(kind), c, nullif(p, ''), a, f, e, s from unnest(\(rows.map(\.code))::text[],
                        \(rows.map { $0.parent ?? "" })::text[], \(rows.map(\.nameArabic))::text[],
                        \(rows.map(\.nameFrench))::text[], \(rows.map(\.nameEnglish))::text[], \(rows.map(\.source))::text[])
                        as t(c, p, a, f, e, s)
                    on conflict (kind, code) do update set parent = excluded.parent, name_ar = excluded.name_ar,
                        name_fr = excluded.name_fr, name_en = excluded.name_en, source = excluded.source
                    """, logger: logger)
            }
            let p = data.projects
            func text(_ key: String) -> [String] { p.map { $0[key]?.stringValue ?? "" } }
            try await connection.query(
                """
                insert into ref_projects (id, region, province, place, kind, status, description_en, name_ar, source)
                select i, nullif(r, ''), nullif(pr, ''), nullif(pl, ''), nullif(k, ''), nullif(st, ''), nullif(d, ''),
                    nullif(a, ''), s
                from unnest(\(text("id"))::text[], \(text("region"))::text[], \(text("province"))::text[],
                    \(text("place"))::text[], \(text("kind"))::text[], \(text("status"))::text[],
                    \(text("description_en"))::text[], \(text("name_ar"))::text[], \(text("source"))::text[])
                    as t(i, r, pr, pl, k, st, d, a, s)
                on conflict (id) do update set region = excluded.region, province = excluded.province,
                    place = excluded.place, kind = excluded.kind, status = excluded.status,
                    description_en = excluded.description_en, name_ar = excluded.name_ar, source = excluded.source
                """, logger: logger)
            return [
                "ref_regions": data.regions.count, "ref_zones": data.zones.count, "ref_labels": labelCount,
                "ref_projects": data.projects.count, "ref_communes": data.communes.count,
            ]
        }
    }

    /// The statistics office's code, the printed Arabic name and the census of regions or zones.
    private static func census(
        _ rows: [ReferenceData.Row], table: String, connection: PostgresConnection, logger: Logger
    ) async throws {
        var query = PostgresQuery(
            unsafeSQL: """
                update \(table) t set hcp_code = nullif(v.h, ''), name_ar_in_source = nullif(v.a, ''),
                    population_2024 = nullif(v.p, -1), households_2024 = nullif(v.n, -1)
                from unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[]) as v(c, h, a, p, n)
                where t.code = v.c
                """)
        query.binds.append(rows.map(\.code))
        query.binds.append(rows.map { $0.hcpCode ?? "" })
        query.binds.append(rows.map { $0.arabicInSource ?? "" })
        query.binds.append(rows.map { Int64($0.population ?? -1) })
        query.binds.append(rows.map { Int64($0.households ?? -1) })
        try await connection.query(query, logger: logger)
    }
}

extension SamuStore {
    /// Which of these zone codes the reference data knows (`ref_zones`).
    public func seededZones(among codes: [String]) async throws -> Set<String> {
        let rows = try await client.query("select code from ref_zones where code = any(\(codes))", logger: logger)
        var found: Set<String> = []
        for try await code in rows.decode(String.self) { found.insert(code) }
        return found
    }
}
