import Foundation
import SamuTestSupport
import Testing

@testable import SamuModel

@Suite("Load generator: the simulated night")
struct SimulationTests {
    let deployment: Deployment

    init() throws {
        deployment = try Deployment.load(Repository.seeds.appendingPathComponent("demo/deployment.json"))
    }

    @Test("about 80 % of reports fall between 19:00 and 07:00, in the profile and in what the generator draws")
    func nightShare() {
        #expect((0.78...0.82).contains(NightProfile.nightShare), "\(NightProfile.nightShare)")
        var generator = NightGenerator(deployment: deployment, temperature: 6, seed: 7)
        let hours = (0..<20_000).map { _ in generator.hour() }
        let night = Double(hours.filter { $0 >= 19 || $0 < 7 }.count) / Double(hours.count)
        #expect(abs(night - NightProfile.nightShare) < 0.02, "\(night)")
    }

    @Test("cold waves: ×1 at 0 °C and above, ×2 at −8 °C, ×3 at −12 °C and below, monotonic in between")
    func coldWave() {
        #expect(NightProfile.coldWaveMultiplier(temperature: 10) == 1)
        #expect(NightProfile.coldWaveMultiplier(temperature: 0) == 1)
        #expect(NightProfile.coldWaveMultiplier(temperature: -8) == 2)
        #expect(NightProfile.coldWaveMultiplier(temperature: -12) == 3)
        #expect(NightProfile.coldWaveMultiplier(temperature: -20) == 3)
        let temperatures = stride(from: 5.0, through: -15.0, by: -0.5).map {
            NightProfile.coldWaveMultiplier(temperature: $0)
        }
        #expect(zip(temperatures, temperatures.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test("every generated report, crew and shelter update is valid against its topic's schema; a seed repeats a night")
    func validEvents() throws {
        let catalog = try Repository.catalog()
        var generator = NightGenerator(deployment: deployment, temperature: -9, seed: 42)
        var categories: [String: Int] = [:]
        for _ in 0..<500 {
            let report = generator.report(at: Date())
            try catalog.definition(.reports).schemas[1]!.validate(report)
            _ = try Report(validated: report)
            categories[report["category"]?.stringValue ?? "", default: 0] += 1
            try catalog.definition(.units).schemas[1]!.validate(generator.unitUpdate(at: Date()).event)
            try catalog.definition(.beds).schemas[1]!.validate(generator.bedUpdate(at: Date()).event)
        }
        #expect(categories.count == BeneficiaryCategory.allCases.count, "\(categories)")
        #expect((categories["homeless_adult"] ?? 0) > (categories["person_with_disability"] ?? 0))
        var first = NightGenerator(deployment: deployment, temperature: 6, seed: 3)
        var second = NightGenerator(deployment: deployment, temperature: 6, seed: 3)
        let time = Date(timeIntervalSince1970: 1_768_500_000)
        #expect(first.report(at: time) == second.report(at: time))
    }
}
