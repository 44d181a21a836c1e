import Foundation
import RdKafka
import SamuModel
import SamuStore
import Testing

@testable import SamuPipeline

/// What names a batch's settling (its outcomes' ids derive from it), with no broker or database.
@Suite("Settle outcome ids")
struct SettleSourceTests {
    static func message(_ offset: Int64) -> KafkaMessage {
        KafkaMessage(topic: "samu.reports.v1", partition: 3, offset: offset, key: nil, value: [])
    }

    static func decided(_ ids: [UUID]) -> [DispatchWrite.Processed] {
        ids.enumerated().map {
            DispatchWrite.Processed(eventID: $1, topic: "samu.reports.v1", partition: 3, offset: Int64(10 + $0))
        }
    }

    @Test(
        "a batch decided again after a refusal (same first message, its first events skipped, newer ones decided) settles under another name than the batch that committed"
    )
    func decidedAgain() {
        let (a, b, c) = (UUID(), UUID(), UUID())
        let first = (10...11).map(Self.message)
        let again = (10...12).map(Self.message)
        let committed = DispatchWorker.settleSource(first, decided: Self.decided([a, b]))
        let redecided = DispatchWorker.settleSource(again, decided: Self.decided([c]))
        #expect(committed != redecided)
        // The same events decided, the same name: a write sent again keeps its outcomes' ids.
        #expect(DispatchWorker.settleSource(first, decided: Self.decided([a, b])) == committed)
        // A batch that decided nothing is named by its messages.
        let nothing = DispatchWorker.settleSource(first, decided: [])
        #expect(nothing == "settle/samu.reports.v1/3/10-11/2")
        #expect(nothing != DispatchWorker.settleSource(again, decided: []))
    }
}
