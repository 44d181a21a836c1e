/// Whether a topic's new value schema can replace the previous one without breaking anybody: the
/// workers read both versions side by side while producers move over, and consumers written for
/// the old version keep reading records of the new one.
///
/// A change is compatible when every document valid under the old schema keeps its meaning under
/// the new one and the new one only adds what old readers can skip: new optional fields, wider
/// enumerations, looser bounds. Breaking: a field removed, a field that becomes required, a type
/// changed, an enumeration value removed, a constant changed (other than `schema_version`).
public enum SchemaCompatibility {
    /// What makes `new` break readers or writers of `old`, one line each (empty: compatible).
    public static func breakingChanges(from old: JSONValue, to new: JSONValue) -> [String] {
        var found: [String] = []
        compare(old, new, path: "", found: &found)
        return found
    }

    static func types(_ schema: JSONValue) -> Set<String> {
        switch schema["type"] {
        case .string(let type)?: return [type]
        case .array(let types)?: return Set(types.compactMap(\.stringValue))
        default: return []
        }
    }

    static func compare(_ old: JSONValue, _ new: JSONValue, path: String, found: inout [String]) {
        let oldTypes = types(old)
        let newTypes = types(new)
        // `integer` is a `number`: widening integer to number is fine, the reverse is not.
        let widened = newTypes.union(newTypes.contains("number") ? ["integer"] : [])
        if !oldTypes.isEmpty, !newTypes.isEmpty, !oldTypes.isSubset(of: widened) {
            found.append("\(path.isEmpty ? "/" : path): type changed from \(oldTypes.sorted()) to \(newTypes.sorted())")
        }
        if let values = old["enum"]?.arrayValue {
            let kept = new["enum"]?.arrayValue ?? values
            for value in values where !kept.contains(value) {
                found.append("\(path.isEmpty ? "/" : path): enumeration value \(value.serialized) removed")
            }
        }
        if let constant = old["const"], let changed = new["const"], constant != changed,
            path != "/schema_version"
        {
            found.append("\(path): constant changed from \(constant.serialized) to \(changed.serialized)")
        }
        let oldRequired = Set(old["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        let newRequired = Set(new["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        for field in newRequired.subtracting(oldRequired).sorted() {
            found.append("\(path)/\(field): required now (documents of the old version may lack it)")
        }
        if case .object(let oldProperties)? = old["properties"] {
            let newProperties = new["properties"]
            for entry in oldProperties.entries {
                let childPath = "\(path)/\(entry.key)"
                guard let replacement = newProperties?[entry.key] else {
                    found.append("\(childPath): removed")
                    continue
                }
                compare(entry.value, replacement, path: childPath, found: &found)
            }
        }
        if let oldItems = old["items"], let newItems = new["items"] {
            compare(oldItems, newItems, path: "\(path)/*", found: &found)
        }
    }
}
