import Foundation
import Logging
import SamuModel
import SamuStore

/// Statistics for the ministry over any period and a set of zones (`samu statistics`, and the
/// console's `/api/statistics` for an account's zones): cases by region × province × category ×
/// month, response times per province, the unmet-demand trend, shelters' occupancy, and the
/// programme's projects (S1–S29) and the 65-centre target for women victims of violence against
/// what reports to samu. As JSON, CSV (one table per section) and a printable HTML page in French
/// or Arabic.
public struct Statistics: Sendable, Encodable {
    public var from: Date
    public var to: Date
    public var zones: [String]
    public var generated_at: Date
    public var total: Int
    public var cells: [StatisticsRepository.Cell]
    public var responses: [StatisticsRepository.Response]
    public var unmet: [StatisticsRepository.Unmet]
    public var occupancy: [StatisticsRepository.Occupancy]
    public var projects: [StatisticsRepository.Project]
    /// Reception and shelter centres for women victims of violence reporting to samu, against the
    /// national target of 65 (docs/domain.md, source 004 L342, L854).
    public var women_centres: Int
    public static let womenCentreTarget = 65
    /// Facility types (seeds/facility-types.json) that count toward that target.
    public static let womenCentreTypes: Set<String> = ["emf", "mfi_women", "women_centre"]

    public static func load(
        store: SamuStore, from: Date, to: Date, zones: [String], logger: Logger
    ) async throws -> Statistics {
        let repository = StatisticsRepository(store: store, logger: logger)
        let cells = try await repository.cells(from: from, to: to, zones: zones)
        let occupancy = try await repository.occupancy(from: from, to: to, zones: zones)
        return Statistics(
            from: from, to: to, zones: zones, generated_at: Date(), total: cells.reduce(0) { $0 + $1.cases },
            cells: cells, responses: try await repository.responses(from: from, to: to, zones: zones),
            unmet: try await repository.unmet(from: from, to: to, zones: zones), occupancy: occupancy,
            projects: try await repository.projects(),
            women_centres: occupancy.filter { $0.facility_type.map(womenCentreTypes.contains) ?? false }.count)
    }

    /// The period from `from` to `to` (days, `YYYY-MM-DD`, Morocco's time; `to` included), by
    /// default the twelve months up to today.
    public static func period(from: String?, to: String?, now: Date = Date()) -> (from: Date, to: Date)? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = NightReport.morocco
        func day(_ text: String) -> Date? {
            let parts = text.split(separator: "-").compactMap { Int($0) }
            guard parts.count == 3, text.count == 10,
                let date = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2]))
            else { return nil }
            // A day that does not exist (30 February) is refused, not moved to the next month.
            let back = calendar.dateComponents([.year, .month, .day], from: date)
            return back.year == parts[0] && back.month == parts[1] && back.day == parts[2] ? date : nil
        }
        let today = calendar.startOfDay(for: now)
        let end: Date?
        if let to {
            end = day(to).flatMap { calendar.date(byAdding: .day, value: 1, to: $0) }
        } else {
            end = calendar.date(byAdding: .day, value: 1, to: today)
        }
        let start: Date?
        if let from {
            start = day(from)
        } else {
            start = end.flatMap { calendar.date(byAdding: .year, value: -1, to: $0) }
        }
        guard let start, let end, start < end, end.timeIntervalSince(start) <= 10 * 366 * 86_400 else { return nil }
        return (start, end)
    }

    // MARK: - CSV

    /// One CSV document with a section per table (a blank line and a `# name` line between them),
    /// RFC 4180 quoting, codes rather than names (stable for spreadsheets and scripts).
    public var csv: String {
        func field(_ value: String) -> String {
            // A leading =, +, - or @ would be a formula in a spreadsheet: quoted with an apostrophe.
            let safe = value.first.map { "=+-@".contains($0) } == true ? "'" + value : value
            return safe.contains(where: { ",\"\n\r".contains($0) })
                ? "\"" + safe.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : safe
        }
        func line(_ values: [String]) -> String { values.map(field).joined(separator: ",") + "\r\n" }
        func seconds(_ value: Double?) -> String { value.map { String(Int($0.rounded())) } ?? "" }
        var out = "# cases\r\n" + line(["region", "province", "category", "month", "cases"])
        for cell in cells { out += line([cell.region, cell.province, cell.category, cell.month, String(cell.cases)]) }
        out += "\r\n# response_times\r\n"
        out += line(["province", "cases", "reached", "median_seconds", "p90_seconds"])
        for row in responses {
            out += line([
                row.province, String(row.cases), String(row.reached), seconds(row.median_seconds),
                seconds(row.p90_seconds),
            ])
        }
        out += "\r\n# unmet_demand\r\n" + line(["month", "cases", "queued", "no_bed", "not_reached"])
        for row in unmet {
            out += line([row.month, String(row.cases), String(row.queued), String(row.no_bed), String(row.not_reached)])
        }
        out += "\r\n# shelters\r\n"
        out += line(["shelter", "zone", "facility_type", "capacity", "occupied", "held", "admitted", "expired"])
        for row in occupancy {
            out += line([
                row.shelter_id, row.zone, row.facility_type ?? "", String(row.capacity), String(row.occupied),
                String(row.held), String(row.admitted), String(row.expired),
            ])
        }
        out +=
            "\r\n# projects\r\n" + line(["id", "region", "province", "place", "kind", "status", "units", "shelters"])
        for row in projects {
            out += line([
                row.id, row.region ?? "", row.province ?? "", row.place ?? "", row.kind ?? "", row.status ?? "",
                String(row.units), String(row.shelters),
            ])
        }
        out += "\r\n# women_centres\r\n" + line(["running", "target"])
        out += line([String(women_centres), String(Self.womenCentreTarget)])
        return out
    }
}

/// The statistics as one printable HTML page (inline CSS and SVG, no script), French or Arabic.
public struct StatisticsPage: Sendable {
    public let statistics: Statistics
    public let language: NightReportPage.Language
    public let labels: [String: [String: [String: String]]]
    /// Where the page's period form and CSV link point (the console), or nil (a file).
    public var formAction: String?

    public init(
        statistics: Statistics, language: NightReportPage.Language, labels: [String: [String: [String: String]]],
        formAction: String? = nil
    ) {
        self.statistics = statistics
        self.language = language
        self.labels = labels
        self.formAction = formAction
    }

    static let text: [NightReportPage.Language: [String: String]] = [
        .fr: [
            "title": "SAMU social — statistiques", "period": "Période", "generated": "Établi le",
            "total": "Cas signalés", "from": "Du", "to": "au", "show": "Afficher", "csv": "Exporter en CSV",
            "by_region": "Cas par région, province et mois", "by_category": "Cas par catégorie",
            "region": "Région", "province": "Province", "total_col": "Total",
            "response": "Délai d'intervention par province (signalement → équipe sur place)", "cases": "Cas",
            "reached": "Atteints", "median": "Médiane", "p90": "90e centile", "minutes": "min",
            "unmet": "Demande non satisfaite par mois", "month": "Mois", "queued": "Ont attendu une unité",
            "no_bed": "Sans lit", "not_reached": "Non atteints",
            "shelters": "Centres d'hébergement : occupation et admissions",
            "shelter": "Centre", "facility": "Type", "capacity": "Lits", "occupied": "Occupés (maintenant)",
            "held": "Réservés", "admitted": "Admissions (période)", "expired": "Réservations expirées",
            "rate": "Taux d'occupation",
            "projects": "Programme : projets S1–S29 et ce qui fonctionne dans samu", "project": "Projet",
            "place": "Lieu", "kind": "Nature", "status": "Statut (source)", "units": "Unités", "running": "En service",
            "yes": "oui", "no": "non",
            "women":
                "Centres d'accueil des femmes victimes de violence : {running} en service sur l'objectif national de {target}",
            "none": "Aucun cas sur la période.",
        ],
        .ar: [
            "title": "الإسعاف الاجتماعي المتنقل — إحصائيات", "period": "الفترة", "generated": "أُعدّ في",
            "total": "الحالات المبلغ عنها", "from": "من", "to": "إلى", "show": "عرض", "csv": "تصدير CSV",
            "by_region": "الحالات حسب الجهة والإقليم والشهر", "by_category": "الحالات حسب الفئة",
            "region": "الجهة", "province": "الإقليم", "total_col": "المجموع",
            "response": "مدة التدخل حسب الإقليم (من التبليغ إلى وصول الفريق)", "cases": "الحالات",
            "reached": "تم الوصول إليها", "median": "الوسيط", "p90": "المئين 90", "minutes": "دقيقة",
            "unmet": "الطلب غير الملبى حسب الشهر", "month": "الشهر", "queued": "انتظرت وحدة",
            "no_bed": "بدون سرير", "not_reached": "لم يُوصل إليها",
            "shelters": "مراكز الإيواء: نسبة الملء والاستقبال",
            "shelter": "المركز", "facility": "النوع", "capacity": "الأسرّة", "occupied": "مشغولة (الآن)",
            "held": "محجوزة", "admitted": "الاستقبالات (الفترة)", "expired": "حجوزات منتهية",
            "rate": "نسبة الملء",
            "projects": "البرنامج: المشاريع S1–S29 وما يعمل في النظام", "project": "المشروع",
            "place": "المكان", "kind": "الطبيعة", "status": "الوضعية (المصدر)", "units": "الوحدات",
            "running": "في الخدمة", "yes": "نعم", "no": "لا",
            "women": "مراكز استقبال النساء ضحايا العنف: {running} في الخدمة من أصل الهدف الوطني {target}",
            "none": "لا توجد حالات في هذه الفترة.",
        ],
    ]

    func t(_ key: String) -> String { Self.text[language]?[key] ?? key }

    var names: NightReportPage { NightReportPage(report: .empty, language: language, labels: labels) }

    func name(_ kind: String, _ code: String) -> String { names.name(kind, code) }

    static func escape(_ text: String) -> String { NightReportPage.escape(text) }

    func minutes(_ seconds: Double?) -> String {
        guard let seconds else { return "—" }
        return "\(Int((seconds / 60).rounded())) \(t("minutes"))"
    }

    /// A vertical bar chart of the months: one group of bars per month.
    func trend(_ rows: [StatisticsRepository.Unmet]) -> String {
        let series: [(String, String, (StatisticsRepository.Unmet) -> Int)] = [
            ("cases", "#124e78", { $0.cases }), ("queued", "#e07b00", { $0.queued }),
            ("no_bed", "#c0262d", { $0.no_bed }), ("not_reached", "#667085", { $0.not_reached }),
        ]
        let group = 4 * 12 + 16
        let width = max(720, rows.count * group + 60)
        let height = 220
        let largest = max(1, rows.map(\.cases).max() ?? 1)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height + 60)\" viewBox=\"0 0 \(width) \(height + 60)\" direction=\"ltr\" id=\"unmet-trend\">"
        for (index, row) in rows.enumerated() {
            let x0 = 40 + index * group
            for (position, (_, color, value)) in series.enumerated() {
                let bar = Int((Double(value(row)) / Double(largest) * Double(height - 20)).rounded())
                svg +=
                    "<rect x=\"\(x0 + position * 12)\" y=\"\(height - bar)\" width=\"10\" height=\"\(bar)\" fill=\"\(color)\"/>"
            }
            svg +=
                "<text x=\"\(x0 + 24)\" y=\"\(height + 16)\" text-anchor=\"middle\" font-size=\"11\">\(row.month)</text>"
        }
        for (position, (key, color, _)) in series.enumerated() {
            let x = 40 + position * 170
            svg += "<rect x=\"\(x)\" y=\"\(height + 32)\" width=\"10\" height=\"10\" fill=\"\(color)\"/>"
            svg +=
                "<text x=\"\(x + 14)\" y=\"\(height + 41)\" font-size=\"12\">\(Self.escape(t(key == "cases" ? "cases" : key)))</text>"
        }
        return svg + "</svg>"
    }

    public var html: String {
        let stats = statistics
        let dayFormatter = DateFormatter()
        dayFormatter.locale = Locale(identifier: language == .ar ? "ar_MA" : "fr_MA")
        dayFormatter.timeZone = NightReport.morocco
        dayFormatter.dateStyle = .long
        let iso = DateFormatter()
        iso.locale = Locale(identifier: "en_US_POSIX")
        iso.timeZone = NightReport.morocco
        iso.dateFormat = "yyyy-MM-dd"
        let lastDay = stats.to.addingTimeInterval(-1)
        var body = "<h1>\(Self.escape(t("title")))</h1>"
        if let formAction {
            let query = "from=\(iso.string(from: stats.from))&to=\(iso.string(from: lastDay))&lang=\(language.rawValue)"
            body += """
                <form method="get" action="\(Self.escape(formAction))" class="noprint">
                <label>\(Self.escape(t("from"))) <input type="date" name="from" value="\(iso.string(from: stats.from))"></label>
                <label>\(Self.escape(t("to"))) <input type="date" name="to" value="\(iso.string(from: lastDay))"></label>
                <input type="hidden" name="lang" value="\(language.rawValue)">
                <button type="submit">\(Self.escape(t("show")))</button>
                <a id="csv" href="\(Self.escape(formAction.replacingOccurrences(of: ".html", with: ".csv")))?\(Self.escape(query))">\(Self.escape(t("csv")))</a>
                </form>
                """
        }
        body += """
            <p class="meta">\(Self.escape(t("period"))) : \(Self.escape(dayFormatter.string(from: stats.from))) → \(Self.escape(dayFormatter.string(from: lastDay)))
            · \(Self.escape(t("generated"))) \(Self.escape(dayFormatter.string(from: stats.generated_at)))</p>
            <p class="total"><strong id="total">\(stats.total)</strong> \(Self.escape(t("total")))</p>
            """
        if stats.total == 0 { body += "<p>\(Self.escape(t("none")))</p>" }
        // Region × province × month, with the categories' totals beside.
        let months = Array(Set(stats.cells.map(\.month))).sorted()
        if !months.isEmpty {
            body +=
                "<section><h2>\(Self.escape(t("by_region")))</h2><table id=\"by-region\"><tr><th>\(Self.escape(t("region")))</th><th>\(Self.escape(t("province")))</th>"
            for month in months { body += "<th>\(month)</th>" }
            body += "<th>\(Self.escape(t("total_col")))</th></tr>"
            let provinces = Dictionary(grouping: stats.cells) { "\($0.region)|\($0.province)" }
            for key in provinces.keys.sorted() {
                let cells = provinces[key]!
                let first = cells[0]
                body +=
                    "<tr data-province=\"\(Self.escape(first.province))\"><td>\(Self.escape(name("region", first.region)))</td><td>\(Self.escape(name("zone", first.province)))</td>"
                for month in months {
                    body += "<td>\(cells.filter { $0.month == month }.reduce(0) { $0 + $1.cases })</td>"
                }
                body += "<td><strong>\(cells.reduce(0) { $0 + $1.cases })</strong></td></tr>"
            }
            body += "</table>"
            body += "<h2>\(Self.escape(t("by_category")))</h2><table id=\"by-category\"><tr><th></th>"
            for month in months { body += "<th>\(month)</th>" }
            body += "<th>\(Self.escape(t("total_col")))</th></tr>"
            let categories = Dictionary(grouping: stats.cells, by: \.category)
            for category in categories.keys.sorted() {
                let cells = categories[category]!
                body +=
                    "<tr data-category=\"\(Self.escape(category))\"><td>\(Self.escape(name("beneficiary_category", category)))</td>"
                for month in months {
                    body += "<td>\(cells.filter { $0.month == month }.reduce(0) { $0 + $1.cases })</td>"
                }
                body += "<td><strong>\(cells.reduce(0) { $0 + $1.cases })</strong></td></tr>"
            }
            body += "</table></section>"
        }
        if !stats.responses.isEmpty {
            body += "<section><h2>\(Self.escape(t("response")))</h2><table id=\"responses\"><tr>"
            for key in ["province", "cases", "reached", "median", "p90"] { body += "<th>\(Self.escape(t(key)))</th>" }
            body += "</tr>"
            for row in stats.responses {
                body +=
                    "<tr data-province=\"\(Self.escape(row.province))\"><td>\(Self.escape(name("zone", row.province)))</td><td>\(row.cases)</td><td>\(row.reached)</td><td>\(minutes(row.median_seconds))</td><td>\(minutes(row.p90_seconds))</td></tr>"
            }
            body += "</table></section>"
        }
        if !stats.unmet.isEmpty {
            body += "<section><h2>\(Self.escape(t("unmet")))</h2>" + trend(stats.unmet) + "<table id=\"unmet\"><tr>"
            for key in ["month", "cases", "queued", "no_bed", "not_reached"] {
                body += "<th>\(Self.escape(t(key)))</th>"
            }
            body += "</tr>"
            for row in stats.unmet {
                body +=
                    "<tr data-month=\"\(row.month)\"><td>\(row.month)</td><td>\(row.cases)</td><td>\(row.queued)</td><td>\(row.no_bed)</td><td>\(row.not_reached)</td></tr>"
            }
            body += "</table></section>"
        }
        if !stats.occupancy.isEmpty {
            body += "<section><h2>\(Self.escape(t("shelters")))</h2><table id=\"shelters\"><tr>"
            for key in [
                "shelter", "province", "facility", "capacity", "occupied", "held", "rate", "admitted", "expired",
            ] {
                body += "<th>\(Self.escape(t(key)))</th>"
            }
            body += "</tr>"
            for row in stats.occupancy {
                let rate =
                    row.capacity > 0 ? "\(Int((Double(row.occupied) * 100 / Double(row.capacity)).rounded())) %" : "—"
                body +=
                    "<tr data-shelter=\"\(Self.escape(row.shelter_id))\"><td>\(Self.escape(row.shelter_id))</td><td>\(Self.escape(name("zone", row.zone)))</td><td>\(Self.escape(row.facility_type.map { name("facility_type", $0) } ?? "—"))</td><td>\(row.capacity)</td><td>\(row.occupied)</td><td>\(row.held)</td><td>\(rate)</td><td>\(row.admitted)</td><td>\(row.expired)</td></tr>"
            }
            body += "</table></section>"
        }
        body += "<section><h2>\(Self.escape(t("projects")))</h2>"
        body +=
            "<p id=\"women-centres\" data-running=\"\(stats.women_centres)\" data-target=\"\(Statistics.womenCentreTarget)\">"
            + Self.escape(
                t("women").replacingOccurrences(of: "{running}", with: "\(stats.women_centres)")
                    .replacingOccurrences(of: "{target}", with: "\(Statistics.womenCentreTarget)"))
            + "</p><table id=\"projects\"><tr>"
        for key in ["project", "region", "province", "place", "kind", "status", "units", "shelters", "running"] {
            body += "<th>\(Self.escape(t(key)))</th>"
        }
        body += "</tr>"
        for row in stats.projects {
            let running = row.units > 0 && row.shelters > 0
            body +=
                "<tr data-project=\"\(Self.escape(row.id))\" data-running=\"\(running)\"><td>\(Self.escape(row.id))</td><td>\(Self.escape(row.region.map { name("region", $0) } ?? "—"))</td><td>\(Self.escape(row.province.map { name("zone", $0) } ?? "—"))</td><td>\(Self.escape(row.place ?? "—"))</td><td>\(Self.escape(row.kind.map { name("facility_type", $0) } ?? "—"))</td><td>\(Self.escape(row.status ?? "—"))</td><td>\(row.units)</td><td>\(row.shelters)</td><td>\(Self.escape(t(running ? "yes" : "no")))</td></tr>"
        }
        body += "</table></section>"
        return """
            <!doctype html>
            <html lang="\(language.rawValue)" dir="\(language == .ar ? "rtl" : "ltr")">
            <head><meta charset="utf-8"><title>\(Self.escape(t("title")))</title>
            <style>
            body { font-family: "Noto Sans", "Noto Sans Arabic", "DejaVu Sans", sans-serif; margin: 32px; color: #1d2330; background: #fff; }
            h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 22px 0 6px; }
            .meta { color: #667085; } .total { font-size: 18px; }
            table { border-collapse: collapse; font-size: 13px; } th, td { border: 1px solid #d0d5dd; padding: 3px 8px; text-align: start; }
            th { background: #eef2f6; } section { break-inside: avoid; } form { margin: 8px 0 16px; }
            @media print { body { margin: 12mm; } .noprint { display: none; } }
            </style></head>
            <body>
            \(body)
            </body></html>
            """
    }
}

extension NightReport {
    /// A report with nothing in it (to borrow the night report page's labels).
    static var empty: NightReport {
        NightReport(
            from: Date(), to: Date(), generatedAt: Date(), total: 0, byCategory: [], byPriority: [], byResolution: [],
            responseTimes: [], medianResponseSeconds: nil, p90ResponseSeconds: nil, zones: [])
    }
}
