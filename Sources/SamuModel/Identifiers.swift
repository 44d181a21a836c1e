import Crypto
import Foundation

extension UUID {
    /// samu's UUIDv5 namespace: every derived id (case, outcome, dead letter) hangs off it.
    public static let samuNamespace = UUID(uuidString: "6f1c3b9e-5d1a-4c8e-9a57-5a3f0e2b7c41")!

    /// A name-based (version 5, SHA-1) UUID, RFC 9562 §5.5: the same namespace and name always
    /// give the same id, which is what makes redelivered events and republished outcomes dedupable.
    public init(v5 name: String, namespace: UUID = .samuNamespace) {
        var name = name
        self = name.withUTF8 { bytes in
            UUID(namespace: namespace) { unsafe $0.update(bufferPointer: UnsafeRawBufferPointer(bytes)) }
        }
    }

    /// A version 5 UUID over a binary name.
    public init(v5bytes name: [UInt8], namespace: UUID = .samuNamespace) {
        self = unsafe name.withUnsafeBytes { bytes in
            UUID(namespace: namespace) { unsafe $0.update(bufferPointer: bytes) }
        }
    }

    /// SHA-1 over the namespace's 16 bytes, then whatever `name` feeds the hasher; the digest's
    /// first 16 bytes with the version and variant set. The name is hashed where it lies: no copy
    /// of it with the namespace, no digest array (ids are derived for every outcome).
    private init(namespace: UUID, name: (inout Insecure.SHA1) -> Void) {
        var hasher = Insecure.SHA1()
        unsafe withUnsafeBytes(of: namespace.uuid) { unsafe hasher.update(bufferPointer: $0) }
        name(&hasher)
        var uuid = UUID.samuNamespace.uuid
        unsafe hasher.finalize().withUnsafeBytes { digest in
            unsafe withUnsafeMutableBytes(of: &uuid) { bytes in
                for index in 0..<16 { unsafe bytes[index] = unsafe digest[index] }
                unsafe bytes[6] = unsafe (bytes[6] & 0x0F) | 0x50
                unsafe bytes[8] = unsafe (bytes[8] & 0x3F) | 0x80
            }
        }
        self.init(uuid: uuid)
    }

    /// A version 5 UUID over another UUID's 16 bytes and a number (big-endian): the same
    /// derivation as `init(v5bytes:)` on those 20 bytes, without building arrays (hot path).
    public init(v5 base: UUID, _ number: UInt32, namespace: UUID = .samuNamespace) {
        self.init(namespace: namespace) { hasher in
            unsafe withUnsafeBytes(of: base.uuid) { unsafe hasher.update(bufferPointer: $0) }
            unsafe withUnsafeBytes(of: number.bigEndian) { unsafe hasher.update(bufferPointer: $0) }
        }
    }

    /// A version 8 (custom) UUID derived from another UUID and a number by a 64-bit mixer
    /// (SplitMix64's finaliser on each half): deterministic like version 5 but without SHA-1, for
    /// ids made on the dispatch hot path (a case's n-th decision). Distinct inputs collide with
    /// probability about 2⁻¹²², like random UUIDs.
    public init(derivedFrom base: UUID, _ number: UInt32) {
        func mix(_ value: UInt64) -> UInt64 {
            var z = value &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let (high, low) = unsafe withUnsafeBytes(of: base.uuid) { bytes in
            unsafe (
                bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            )
        }
        let first = mix(high ^ mix(low ^ UInt64(number)))
        let second = mix(low ^ mix(first ^ 0x5341_4D55))  // "SAMU"
        var uuid = UUID.samuNamespace.uuid
        unsafe withUnsafeMutableBytes(of: &uuid) { bytes in
            unsafe bytes.storeBytes(of: first, toByteOffset: 0, as: UInt64.self)
            unsafe bytes.storeBytes(of: second, toByteOffset: 8, as: UInt64.self)
            unsafe bytes[6] = unsafe (bytes[6] & 0x0F) | 0x80
            unsafe bytes[8] = unsafe (bytes[8] & 0x3F) | 0x80
        }
        self.init(uuid: uuid)
    }

    /// Lower-case text form, as samu writes ids on the wire.
    /// The canonical lowercase text form, formatted here: Foundation's `uuidString` goes through
    /// `sprintf`, which was the worker's largest single cost (ids appear in every outcome).
    public var lowercased: String {
        var text: [UInt8] = []
        text.reserveCapacity(36)
        writeLowercased(to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends ``lowercased``'s text to a buffer.
    public func writeLowercased(to text: inout [UInt8]) {
        unsafe withUnsafeBytes(of: uuid) { bytes in
            for index in 0..<16 {
                if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
                let byte = unsafe bytes[index]
                text.append(Self.hexDigits[Int(byte >> 4)])
                text.append(Self.hexDigits[Int(byte & 0x0f)])
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Parses the canonical text form (36 characters, either case), without `sscanf` (which
    /// Foundation's `init(uuidString:)` uses): every inbound event's id goes through here.
    public init?(canonical text: String) {
        var bytes = [UInt8](repeating: 0, count: 16)
        var count = 0
        var high: UInt8?
        var position = 0
        for character in text.utf8 {
            defer { position += 1 }
            if position == 8 || position == 13 || position == 18 || position == 23 {
                guard character == UInt8(ascii: "-") else { return nil }
                continue
            }
            let value: UInt8
            switch character {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = character - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = character - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = character - UInt8(ascii: "A") + 10
            default: return nil
            }
            guard count < 16 else { return nil }
            if let first = high {
                bytes[count] = first << 4 | value
                count += 1
                high = nil
            } else {
                high = value
            }
        }
        guard position == 36, count == 16 else { return nil }
        self.init(
            uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
            ))
    }
}

/// The ids samu derives, in one place so that every writer derives them the same way.
public enum DerivedID {
    /// The case opened for a report.
    public static func caseID(forReport reportID: UUID) -> UUID {
        var name: [UInt8] = []
        name.reserveCapacity(41)
        name.append(contentsOf: "case/".utf8)
        reportID.writeLowercased(to: &name)
        return UUID(v5bytes: name)
    }

    /// An outcome event: one per case transition and channel, stable across republishing.
    public static func outcomeID(caseID: UUID, transition: String, channel: String) -> UUID {
        // The name `outcome/<case id>/<transition>/<channel>`, written into one buffer.
        var name: [UInt8] = []
        name.reserveCapacity(46 + transition.utf8.count + channel.utf8.count)
        name.append(contentsOf: "outcome/".utf8)
        caseID.writeLowercased(to: &name)
        name.append(UInt8(ascii: "/"))
        name.append(contentsOf: transition.utf8)
        name.append(UInt8(ascii: "/"))
        name.append(contentsOf: channel.utf8)
        return UUID(v5bytes: name)
    }

    /// A dead-letter record: one per source message.
    public static func deadLetterID(topic: String, partition: Int32, offset: Int64) -> UUID {
        UUID(v5: "dlq/\(topic)/\(partition)/\(offset)")
    }
}
