import Foundation

/// The night report as one self-contained, printable HTML page (inline CSS and SVG charts, no
/// script), in French or Arabic, and as a PNG rendered from that page by headless Chromium.
public struct NightReportPage: Sendable {
    public enum Language: String, Sendable, CaseIterable {
        case fr, ar
    }

    public let report: NightReport
    public let language: Language
    /// kind → code → language → name (the console's labels: zones, regions, seeds' labels, vocabulary).
    public let labels: [String: [String: [String: String]]]

    public init(report: NightReport, language: Language, labels: [String: [String: [String: String]]]) {
        self.report = report
        self.language = language
        self.labels = labels
    }

    static let text: [Language: [String: String]] = [
        .fr: [
            "title": "SAMU social — rapport de nuit", "period": "Période", "generated": "Établi le",
            "total": "Cas signalés", "by_category": "Cas par catégorie", "by_priority": "Cas par priorité",
            "by_resolution": "Cas par issue", "response": "Délai d'intervention (signalement → équipe sur place)",
            "median": "médiane", "p90": "90e centile", "unmet": "Demande non satisfaite par zone",
            "zone": "Zone", "cases": "Cas", "queued": "Ont attendu une unité", "no_bed": "Sans lit",
            "not_reached": "Non atteints", "open": "Encore ouverts", "none": "Aucun cas sur la période.",
            "open_case": "ouvert", "cancelled": "annulé", "untriaged": "non trié",
            "not_reached_band": "pas d'équipe sur place (encore)", "minutes": "min",
            "per_100k": "Cas pour 100 000 habitants (RGPH 2024)",
            "referrals": "Signalements de protection de l'enfance", "made": "faits", "acknowledged": "reçus",
            "decided": "décidés", "late": "en retard",
        ],
        .ar: [
            "title": "الإسعاف الاجتماعي المتنقل — تقرير الليلة", "period": "الفترة", "generated": "أُعدّ في",
            "total": "الحالات المبلغ عنها", "by_category": "الحالات حسب الفئة", "by_priority": "الحالات حسب الأولوية",
            "by_resolution": "الحالات حسب النتيجة", "response": "مدة التدخل (من التبليغ إلى وصول الفريق)",
            "median": "الوسيط", "p90": "المئين 90", "unmet": "الطلب غير الملبى حسب المنطقة",
            "zone": "المنطقة", "cases": "الحالات", "queued": "انتظرت وحدة", "no_bed": "بدون سرير",
            "not_reached": "لم يُوصل إليها", "open": "ما زالت مفتوحة", "none": "لا توجد حالات في هذه الفترة.",
            "open_case": "مفتوحة", "cancelled": "ملغاة", "untriaged": "غير مصنفة",
            "not_reached_band": "لم يصل الفريق (بعد)", "minutes": "دقيقة",
            "per_100k": "الحالات لكل 100000 نسمة (إحصاء 2024)",
            "referrals": "إحالات حماية الطفولة", "made": "المنجزة", "acknowledged": "المتوصل بها",
            "decided": "المبتوت فيها",
            "late": "المتأخرة",
        ],
    ]

    func t(_ key: String) -> String { Self.text[language]?[key] ?? key }

    func name(_ kind: String, _ code: String) -> String {
        let lang = language.rawValue
        if let names = labels[kind]?[code] { return names[lang] ?? names["fr"] ?? code }
        let prefix = ["resolution": "resolution_", "case_state": "case_state_"][kind]
        if let prefix, let names = labels["vocabulary"]?[prefix + code] { return names[lang] ?? code }
        return code
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A horizontal bar chart: one row per entry, bars scaled to the largest count.
    func bars(_ rows: [(label: String, count: Int)], color: String) -> String {
        let width = 780
        let labelWidth = 340
        let rowHeight = 24
        let height = max(1, rows.count) * rowHeight + 8
        let largest = max(1, rows.map(\.count).max() ?? 1)
        var svg =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" direction=\"ltr\">"
        for (index, row) in rows.enumerated() {
            let y = index * rowHeight + 4
            let length = Int((Double(row.count) / Double(largest) * Double(width - labelWidth - 60)).rounded())
            svg +=
                "<text x=\"\(labelWidth - 8)\" y=\"\(y + 16)\" text-anchor=\"end\" font-size=\"13\">\(Self.escape(row.label))</text>"
            svg +=
                "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(max(length, row.count > 0 ? 2 : 0))\" height=\"\(rowHeight - 8)\" fill=\"\(color)\"/>"
            svg += "<text x=\"\(labelWidth + length + 6)\" y=\"\(y + 16)\" font-size=\"13\">\(row.count)</text>"
        }
        return svg + "</svg>"
    }

    func minutes(_ seconds: Double?) -> String {
        guard let seconds else { return "—" }
        return "\(Int((seconds / 60).rounded())) \(t("minutes"))"
    }

    public var html: String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: language == .ar ? "ar_MA" : "fr_MA")
        formatter.timeZone = NightReport.morocco
        formatter.dateStyle = .full
        formatter.timeStyle = .short
        let period = "\(formatter.string(from: report.from)) → \(formatter.string(from: report.to))"
        var body = """
            <h1>\(Self.escape(t("title")))</h1>
            <p class="meta">\(Self.escape(t("period"))) : \(Self.escape(period))<br>
            \(Self.escape(t("generated"))) \(Self.escape(formatter.string(from: report.generatedAt)))</p>
            <p class="total"><strong>\(report.total)</strong> \(Self.escape(t("total")))</p>
            """
        if report.total == 0 {
            body += "<p>\(Self.escape(t("none")))</p>"
        } else {
            body += "<section><h2>\(Self.escape(t("by_category")))</h2>"
            body += bars(report.byCategory.map { (name("beneficiary_category", $0.key), $0.count) }, color: "#124e78")
            body += "</section><section><h2>\(Self.escape(t("by_priority")))</h2>"
            body += bars(
                report.byPriority.sorted { $0.key < $1.key }.map {
                    ($0.key == "untriaged" ? t("untriaged") : $0.key, $0.count)
                },
                color: "#c0262d")
            body += "</section><section><h2>\(Self.escape(t("by_resolution")))</h2>"
            body += bars(
                report.byResolution.map { row in
                    let label =
                        switch row.key {
                        case "open": t("open_case")
                        case "cancelled": t("cancelled")
                        default: name("resolution", row.key)
                        }
                    return (label, row.count)
                }, color: "#1b7f3b")
            body += "</section><section><h2>\(Self.escape(t("response")))</h2>"
            body +=
                "<p class=\"meta\">\(Self.escape(t("median"))) : \(minutes(report.medianResponseSeconds)) · \(Self.escape(t("p90"))) : \(minutes(report.p90ResponseSeconds))</p>"
            body += bars(
                report.responseTimes.map { ($0.key == "not_reached" ? t("not_reached_band") : $0.key, $0.count) },
                color: "#e07b00")
            body += "</section><section><h2>\(Self.escape(t("unmet")))</h2><table><tr>"
            for key in ["zone", "cases", "queued", "no_bed", "not_reached", "open", "per_100k"] {
                body += "<th>\(Self.escape(t(key)))</th>"
            }
            body += "</tr>"
            for zone in report.zones {
                body +=
                    "<tr data-zone=\"\(Self.escape(zone.zone))\"><td>\(Self.escape(name("zone", zone.zone)))</td><td>\(zone.cases)</td><td>\(zone.queued)</td><td>\(zone.noBed)</td><td>\(zone.notReached)</td><td>\(zone.open)</td><td>\(zone.casesPer100k.map { String(format: "%.2f", $0) } ?? "—")</td></tr>"
            }
            body += "</table></section>"
            let referrals = report.referrals
            body +=
                "<section><h2>\(Self.escape(t("referrals")))</h2><p id=\"referrals\" data-made=\"\(referrals.made)\" data-acknowledged=\"\(referrals.acknowledged)\" data-decided=\"\(referrals.decided)\" data-late=\"\(referrals.late)\">"
                + [
                    ("made", referrals.made), ("acknowledged", referrals.acknowledged), ("decided", referrals.decided),
                    ("late", referrals.late),
                ].map { "\(Self.escape(t($0.0))) : \($0.1)" }.joined(separator: " · ")
                + "</p></section>"
        }
        return """
            <!doctype html>
            <html lang="\(language.rawValue)" dir="\(language == .ar ? "rtl" : "ltr")">
            <head><meta charset="utf-8"><title>\(Self.escape(t("title")))</title>
            <style>
            body { font-family: "Noto Sans", "Noto Sans Arabic", "DejaVu Sans", sans-serif; margin: 32px; color: #1d2330; background: #fff; }
            h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 22px 0 6px; }
            .meta { color: #667085; } .total { font-size: 18px; }
            table { border-collapse: collapse; } th, td { border: 1px solid #d0d5dd; padding: 4px 10px; text-align: start; }
            th { background: #eef2f6; } section { break-inside: avoid; }
            @media print { body { margin: 12mm; } }
            </style></head>
            <body>
            \(body)
            </body></html>
            """
    }

    /// Height of the page in CSS pixels, for the screenshot.
    public var estimatedHeight: Int {
        let rows =
            report.byCategory.count + report.byPriority.count + report.byResolution.count + report.responseTimes.count
        return 560 + rows * 24 + report.zones.count * 34 + 5 * 70
    }

    /// Renders `html` (a file) to `png` with headless Chromium.
    public static func renderPNG(html: URL, png: URL, width: Int = 1000, height: Int, chromium: String) throws {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("samu-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        process.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            "--disable-dev-shm-usage", "--user-data-dir=\(profile.path)",
            "--screenshot=\(png.path)", "--window-size=\(width),\(height)", html.absoluteString,
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: png.path) else {
            throw ConsoleError("chromium could not render \(html.path) (exit \(process.terminationStatus))")
        }
    }
}
