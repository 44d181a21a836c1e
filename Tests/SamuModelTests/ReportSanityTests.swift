import Foundation
import SamuModel
import SamuTestSupport
import Testing

@Suite("Reports an operator should check: times far from now, positions far outside their zone")
struct ReportSanityTests {
    let received = Date(timeIntervalSince1970: 1_796_500_000)

    @Test("a report stamped in the future or more than a day old is flagged; one in between is not")
    func times() {
        func flags(_ offset: TimeInterval) -> [ReportFlag] {
            ReportFlag.flags(
                reportedAt: received.addingTimeInterval(offset), received: received, position: nil, zone: "rabat",
                outlines: nil)
        }
        #expect(flags(-600) == [])
        #expect(flags(-23 * 3600) == [])
        #expect(flags(-25 * 3600) == [.reportedLongAgo])
        #expect(flags(5 * 60) == [], "a hotline clock a few minutes ahead")
        #expect(flags(15 * 60) == [.reportedInFuture])
        // The demo's samples, dated January, received in December: flagged.
        #expect(flags(-7_672 * 3600) == [.reportedLongAgo])
    }

    @Test("a position inside its zone, or just across its border, is not flagged; one far away is")
    func places() throws {
        let outlines = try ZoneOutlines.load(Repository.seeds.appendingPathComponent("hcp/zone-outlines.json"))
        #expect(outlines.zones.count == 82, "every zone has an outline")
        func flagged(_ lat: Double, _ lon: Double, _ zone: String) -> Bool {
            ReportFlag.flags(
                reportedAt: received, received: received, position: GeoPoint(latitude: lat, longitude: lon),
                zone: zone, outlines: outlines
            ).contains(.outsideZone)
        }
        #expect(!flagged(34.6814, -1.9086, "oujda-angad"), "Oujda's bus station")
        #expect(flagged(34.8828, -1.3167, "oujda-angad"), "Tlemcen, in Algeria")
        #expect(!flagged(34.0209, -6.8416, "rabat"))
        #expect(flagged(33.5731, -7.5898, "rabat"), "a Casablanca position on a Rabat report")
        #expect(!flagged(33.5935, -7.6187, "casablanca-anfa"), "Sidi Belyout")
        // Across a border by less than the tolerance: Salé's side of the Bou Regreg on a Rabat report.
        #expect(!flagged(34.0330, -6.8200, "rabat"))
        #expect(
            ReportFlag.flags(
                reportedAt: received, received: received, position: GeoPoint(latitude: 30, longitude: -9),
                zone: "nowhere",
                outlines: outlines) == [], "a zone without an outline is not judged")
    }
}
