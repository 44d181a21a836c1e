import Testing

@testable import SamuModel

/// Where a violation is reported: the JSON Pointer of the offending value, built as the error goes
/// up from it (keys with `~` or `/` escaped, array indexes, references and the schemas of
/// additional properties followed), and the first violation in document order.
@Suite("JSON Schema violation paths")
struct JSONSchemaPathTests {
    static let schema = #"""
        {"type":"object","required":["a~b/c","x"],
         "properties":{
           "a~b/c":{"type":"array","items":{"type":"array","items":{"$ref":"#/$defs/o"}}},
           "x":{"type":["integer","string"]},
           "~":{"type":"number","minimum":2}},
         "additionalProperties":{"type":"object","additionalProperties":false,"properties":{"a":{"type":"integer"}}},
         "$defs":{"o":{"type":"object","required":["/"],
           "properties":{"/":{"type":"integer","maximum":5}},
           "additionalProperties":{"type":"array","items":{"type":"integer"}}}}}
        """#

    @Test(
        "each violation names its value's path and keyword",
        arguments: [
            // A missing required field's name is not escaped (as before paths were built on the way up).
            (#"{"x":1}"#, "/a~b/c", "required"),
            (#"{"a~b/c":[[{"/":9}]],"x":1}"#, "/a~0b~1c/0/0/~1", "maximum"),
            (#"{"a~b/c":[[{}]],"x":1}"#, "/a~0b~1c/0/0//", "required"),
            (#"{"a~b/c":[[{"/":1},{"/":1,"q":[1,"s"]}]],"x":1}"#, "/a~0b~1c/0/1/q/1", "type"),
            (#"{"a~b/c":[[1]],"x":1}"#, "/a~0b~1c/0/0", "type"),
            (#"{"a~b/c":[],"x":true}"#, "/x", "type"),
            (#"{"a~b/c":[],"x":1,"~":1}"#, "/~0", "minimum"),
            (#"{"a~b/c":[],"x":1,"zz":{"b":1}}"#, "/zz/b", "additionalProperties"),
            (#"{"a~b/c":[],"x":1,"zz":{"a":"s"}}"#, "/zz/a", "type"),
            // The first violation in document order wins.
            (#"{"a~b/c":[[{"/":9}]],"x":true}"#, "/a~0b~1c/0/0/~1", "maximum"),
            ("[]", "", "type"),
        ])
    func paths(document: String, path: String, keyword: String) throws {
        let schema = try JSONSchema(try JSONParser.parse(Self.schema))
        let violation = #expect(throws: SchemaViolation.self) { try schema.validate(try JSONParser.parse(document)) }
        #expect(violation?.path == path)
        #expect(violation?.keyword == keyword)
    }

    @Test("a document that meets the schema passes, a float with an integer's value counts as an integer")
    func valid() throws {
        let schema = try JSONSchema(try JSONParser.parse(Self.schema))
        try schema.validate(try JSONParser.parse(#"{"a~b/c":[[{"/":5,"q":[1]}],[]],"x":"s","~":2,"zz":{"a":1}}"#))
        try schema.validate(try JSONParser.parse(#"{"a~b/c":[],"x":3.0,"~":2}"#))
    }
}
