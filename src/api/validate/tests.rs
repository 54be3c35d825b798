use base64::Engine;
use serde_json::{json, Value};

use super::*;

fn validation(op: &str, input: Value) -> String {
    match check_input(op, &input) {
        Err(InputError::Validation(m)) => m,
        other => panic!("{op} {input}: expected ValidationException, got {other:?}"),
    }
}

fn serialization(op: &str, input: Value) -> Option<String> {
    match check_input(op, &input) {
        Err(InputError::Serialization(m)) => m,
        other => panic!("{op} {input}: expected SerializationException, got {other:?}"),
    }
}

fn ok(op: &str, input: Value) {
    assert_eq!(check_input(op, &input), Ok(()), "{op} {input}");
}

const NAME_PATTERN: &str = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+";

#[test]
fn valid_requests_pass() {
    ok("CreateStream", json!({"StreamName": "s1", "ShardCount": 2}));
    ok("DescribeLimits", json!({}));
    ok(
        "PutRecords",
        json!({"StreamName": "s", "Records": [{"Data": "aGVsbG8=", "PartitionKey": "k", "ExplicitHashKey": "12"}]}),
    );
    ok(
        "AddTagsToStream",
        json!({"StreamName": "s", "Tags": {"a": "", "b": "x"}}),
    );
}

#[test]
fn stream_name_missing() {
    assert_eq!(
        validation("CreateStream", json!({"ShardCount": 1})),
        "1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn stream_name_too_long() {
    let name = "a".repeat(129);
    assert_eq!(
        validation("CreateStream", json!({"StreamName": name})),
        format!("1 validation error detected: Value '{name}' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 128")
    );
}

#[test]
fn stream_name_bad_pattern() {
    assert_eq!(
        validation("DescribeStream", json!({"StreamName": "a b"})),
        format!("1 validation error detected: Value 'a b' at 'streamName' failed to satisfy constraint: {NAME_PATTERN}")
    );
}

#[test]
fn empty_stream_name_pattern_before_length() {
    assert_eq!(
        validation("CreateStream", json!({"StreamName": ""})),
        format!(
            "2 validation errors detected: Value '' at 'streamName' failed to satisfy constraint: {NAME_PATTERN}; \
             Value '' at 'streamName' failed to satisfy constraint: Member must have length greater than or equal to 1"
        )
    );
}

#[test]
fn shard_count_zero() {
    assert_eq!(
        validation("CreateStream", json!({"StreamName": "s", "ShardCount": 0})),
        "1 validation error detected: Value '0' at 'shardCount' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
}

#[test]
fn shard_count_wrong_type() {
    assert_eq!(
        serialization(
            "CreateStream",
            json!({"StreamName": "s", "ShardCount": "a string"})
        )
        .as_deref(),
        Some("class java.lang.String can not be converted to an Integer")
    );
    assert_eq!(
        serialization(
            "CreateStream",
            json!({"StreamName": "s", "ShardCount": true})
        )
        .as_deref(),
        Some("class java.lang.Boolean can not be converted to an Integer")
    );
    assert_eq!(
        serialization("CreateStream", json!({"ShardCount": []})).as_deref(),
        Some("Start of list found where not expected")
    );
    assert_eq!(
        serialization("CreateStream", json!({"ShardCount": {}})).as_deref(),
        Some("Start of structure or map found where not expected.")
    );
}

#[test]
fn other_type_errors() {
    let s = |op, v| serialization(op, v).unwrap();
    assert_eq!(
        s("CreateStream", json!({"StreamName": 23})),
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
    );
    assert_eq!(
        s("CreateStream", json!({"StreamName": false})),
        "class java.lang.Boolean can not be converted to an String"
    );
    assert_eq!(
        s("PutRecords", json!({"Records": 1})),
        "Expected list or null"
    );
    assert_eq!(
        s("PutRecords", json!({"Records": {}})),
        "Start of structure or map found where not expected."
    );
    assert_eq!(s("PutRecords", json!({"Records": ["x"]})), "Expected null");
    assert_eq!(
        s("PutRecords", json!({"Records": [[]]})),
        "Start of list found where not expected"
    );
    assert_eq!(
        s("PutRecords", json!({"Records": [{"Data": 1}]})),
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to a Blob"
    );
    assert_eq!(
        s("AddTagsToStream", json!({"Tags": "x"})),
        "Expected map or null"
    );
    assert_eq!(
        s("AddTagsToStream", json!({"Tags": []})),
        "Start of list found where not expected"
    );
    assert_eq!(
        s("AddTagsToStream", json!({"Tags": {"a": 1}})),
        "class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an String"
    );
    assert_eq!(
        s("RemoveTagsFromStream", json!({"TagKeys": [true]})),
        "class java.lang.Boolean can not be converted to an String"
    );
    assert_eq!(
        s(
            "UpdateStreamMode",
            json!({"StreamARN": "x", "StreamModeDetails": 5})
        ),
        "Expected null"
    );
    assert_eq!(
        s("ListShards", json!({"StreamCreationTimestamp": false})),
        "class java.lang.Boolean can not be converted to milliseconds since epoch"
    );
}

#[test]
fn boolean_type_errors() {
    let body = |v: Value| json!({"StreamName": "s", "EnforceConsumerDeletion": v});
    ok("DeleteStream", body(json!(true)));
    assert_eq!(
        serialization("DeleteStream", body(json!("yes"))).as_deref(),
        Some("'YES' can not be converted to an Boolean")
    );
    assert_eq!(
        serialization("DeleteStream", body(json!(1))).as_deref(),
        Some("class com.amazon.coral.value.json.numbers.TruncatingBigNumber can not be converted to an Boolean")
    );
    assert_eq!(
        serialization("DeleteStream", body(json!({}))).as_deref(),
        Some("Start of structure or map found where not expected.")
    );
}

#[test]
fn long_wording() {
    let shape = model().shape("MillisBehindLatest").unwrap();
    assert_eq!(
        check_type(shape, &json!("1")).unwrap_err(),
        "class java.lang.String can not be converted to an Long"
    );
}

#[test]
fn limit_too_big() {
    assert_eq!(
        validation("GetRecords", json!({"ShardIterator": "x", "Limit": 10001})),
        "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"
    );
}

#[test]
fn integers_are_floored_and_capped() {
    ok(
        "GetRecords",
        json!({"ShardIterator": "x", "Limit": 10000.9}),
    );
    assert_eq!(
        validation("GetRecords", json!({"ShardIterator": "x", "Limit": 0.5})),
        "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
    );
    assert_eq!(
        validation("GetRecords", json!({"ShardIterator": "x", "Limit": 1e12})),
        "1 validation error detected: Value '2147483647' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"
    );
}

#[test]
fn shard_iterator_type_not_in_enum() {
    assert_eq!(
        validation("GetShardIterator", json!({"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "OLDEST"})),
        "1 validation error detected: Value 'OLDEST' at 'shardIteratorType' failed to satisfy constraint: \
         Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, LATEST, AT_TIMESTAMP]"
    );
}

#[test]
fn put_records_501() {
    let records: Vec<Value> = (0..501)
        .map(|_| json!({"Data": "", "PartitionKey": "k"}))
        .collect();
    let entry = "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@2";
    let list = vec![entry; 501].join(", ");
    assert_eq!(
        validation("PutRecords", json!({"StreamName": "s", "Records": records})),
        format!("1 validation error detected: Value '[{list}]' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500")
    );
}

#[test]
fn errors_are_capped_at_ten() {
    let records: Vec<Value> = (0..501)
        .map(|_| json!({"Data": "", "PartitionKey": ""}))
        .collect();
    let msg = validation("PutRecords", json!({"StreamName": "", "Records": records}));
    assert!(
        msg.starts_with("10 validation errors detected: Value '[com.amazonaws"),
        "{msg}"
    );
    assert_eq!(msg.matches("; ").count(), 9);
    assert!(msg.ends_with(
        "Value '' at 'records.9.member.partitionKey' failed to satisfy constraint: Member must have length greater than or equal to 1"
    ));
}

#[test]
fn put_records_missing_data() {
    assert_eq!(
        validation("PutRecords", json!({"StreamName": "s", "Records": [{"Data": "", "PartitionKey": "k"}, {"PartitionKey": "k"}]})),
        "1 validation error detected: Value null at 'records.2.member.data' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn put_records_bad_base64() {
    let body = |d: &str| json!({"StreamName": "s", "Records": [{"Data": d, "PartitionKey": "k"}]});
    assert_eq!(
        serialization("PutRecords", body("abc")).as_deref(),
        Some("'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 3")
    );
    assert_eq!(
        serialization("PutRecords", body("ab*=")).as_deref(),
        Some("'ab*=' can not be converted to a Blob: Invalid Base64 character: '*'")
    );
    assert_eq!(
        serialization("PutRecords", body("+/+=")).as_deref(),
        Some("'+/+=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected")
    );
}

#[test]
fn data_too_long_uses_decoded_length() {
    let e = base64::engine::general_purpose::STANDARD;
    let max = vec![0u8; 10_485_760];
    ok(
        "PutRecord",
        json!({"StreamName": "s", "PartitionKey": "k", "Data": e.encode(&max)}),
    );
    let big = e.encode(vec![0u8; 10_485_761]);
    assert_eq!(
        validation("PutRecord", json!({"StreamName": "s", "PartitionKey": "k", "Data": big})),
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=10485761 cap=10485761]' at 'data' \
         failed to satisfy constraint: Member must have length less than or equal to 10485760"
    );
}

#[test]
fn explicit_hash_key_pattern() {
    assert_eq!(
        validation("PutRecord", json!({"StreamName": "s", "PartitionKey": "k", "Data": "", "ExplicitHashKey": "01"})),
        "1 validation error detected: Value '01' at 'explicitHashKey' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"
    );
    assert_eq!(
        validation("PutRecords", json!({"Records": [{"PartitionKey": "k", "Data": "", "ExplicitHashKey": "x"}]})),
        "1 validation error detected: Value 'x' at 'records.1.member.explicitHashKey' failed to satisfy constraint: \
         Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"
    );
}

#[test]
fn nested_shard_filter_type_missing() {
    assert_eq!(
        validation("ListShards", json!({"StreamName": "s", "ShardFilter": {"ShardId": "shardId-1"}})),
        "1 validation error detected: Value null at 'shardFilter.type' failed to satisfy constraint: Member must not be null"
    );
    assert_eq!(
        validation("ListShards", json!({"ShardFilter": {"Type": "NOPE"}})),
        "1 validation error detected: Value 'NOPE' at 'shardFilter.type' failed to satisfy constraint: \
         Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]"
    );
}

#[test]
fn two_errors_in_model_order() {
    assert_eq!(
        validation("GetShardIterator", json!({"StreamName": "a b"})),
        format!(
            "3 validation errors detected: Value 'a b' at 'streamName' failed to satisfy constraint: {NAME_PATTERN}; \
             Value null at 'shardId' failed to satisfy constraint: Member must not be null; \
             Value null at 'shardIteratorType' failed to satisfy constraint: Member must not be null"
        )
    );
    assert_eq!(
        validation("DescribeStream", json!({"StreamName": "a b", "Limit": 0})),
        format!(
            "2 validation errors detected: Value 'a b' at 'streamName' failed to satisfy constraint: {NAME_PATTERN}; \
             Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
        )
    );
}

#[test]
fn type_error_wins_over_earlier_constraint_error() {
    assert_eq!(
        serialization("DescribeStream", json!({"StreamName": "a b", "Limit": "1"})).as_deref(),
        Some("class java.lang.String can not be converted to an Integer")
    );
}

#[test]
fn timestamps() {
    let body = |t: Value| json!({"ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": t});
    ok("GetShardIterator", body(json!(1704164645.678)));
    ok("GetShardIterator", body(json!(1704164645)));
    ok("GetShardIterator", body(json!("2024-01-02T03:04:05.678Z")));
    assert_eq!(
        serialization("GetShardIterator", body(json!("yesterday"))).as_deref(),
        Some("class java.lang.String can not be converted to milliseconds since epoch")
    );
    assert_eq!(
        serialization(
            "ListShards",
            json!({"ShardFilter": {"Type": "AT_TIMESTAMP", "Timestamp": "2024-99-01"}})
        )
        .as_deref(),
        Some("class java.lang.String can not be converted to milliseconds since epoch")
    );
}

#[test]
fn nulls_are_absent() {
    ok("DescribeStream", json!({"StreamName": null, "Limit": null}));
    ok(
        "PutRecords",
        json!({"Records": [{"Data": "", "PartitionKey": "k", "ExplicitHashKey": null}], "StreamName": null}),
    );
    assert_eq!(
        validation("CreateStream", json!({"StreamName": null})),
        "1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null"
    );
}

#[test]
fn unknown_members_ignored() {
    ok(
        "DescribeStream",
        json!({"StreamName": "s", "Bogus": [1, {"x": true}]}),
    );
    ok(
        "ListShards",
        json!({"ShardFilter": {"Type": "AT_LATEST", "Extra": 1}}),
    );
    ok(
        "PutRecords",
        json!({"Records": [{"Data": "", "PartitionKey": "k", "Nope": 3}]}),
    );
}

#[test]
fn non_object_body() {
    for body in [json!([]), json!("x"), json!(1), json!(null), json!(true)] {
        assert_eq!(serialization("ListStreams", body), None);
    }
}

#[test]
fn error_codes_and_messages() {
    let e = check_input("CreateStream", &json!({})).unwrap_err();
    assert_eq!(e.code(), "ValidationException");
    assert!(e
        .message()
        .unwrap()
        .starts_with("1 validation error detected: "));
    let e = check_input("CreateStream", &json!([])).unwrap_err();
    assert_eq!((e.code(), e.message()), ("SerializationException", None));
    assert_eq!(e.to_string(), "SerializationException");
}

#[test]
fn unknown_operation_passes() {
    ok("NoSuchOperation", json!({}));
}

#[test]
fn scalar_lists_and_maps_aggregate() {
    let long = "k".repeat(129);
    assert_eq!(
        validation("RemoveTagsFromStream", json!({"StreamName": "s", "TagKeys": ["a", long, "b"]})),
        format!(
            "1 validation error detected: Value '[a, {long}, b]' at 'tagKeys' failed to satisfy constraint: \
             Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"
        )
    );
    assert_eq!(
        validation("RemoveTagsFromStream", json!({"TagKeys": []})),
        "1 validation error detected: Value '[]' at 'tagKeys' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    assert_eq!(
        validation("AddTagsToStream", json!({"Tags": {"a": "1", long.clone(): "3"}})),
        format!(
            "1 validation error detected: Value '{{a=1, {long}=3}}' at 'tags' failed to satisfy constraint: \
             Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]"
        )
    );
    let v = "v".repeat(257);
    assert_eq!(
        validation("AddTagsToStream", json!({"Tags": {"c": v}})),
        format!(
            "1 validation error detected: Value '{{c={v}}}' at 'tags' failed to satisfy constraint: \
             Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]"
        )
    );
    assert_eq!(
        validation("AddTagsToStream", json!({"Tags": {}})),
        "1 validation error detected: Value '{}' at 'tags' failed to satisfy constraint: Member must have length greater than or equal to 1"
    );
    assert_eq!(
        validation("EnableEnhancedMonitoring", json!({"StreamName": "s", "ShardLevelMetrics": ["ALL", "Nope"]})),
        "1 validation error detected: Value '[ALL, Nope]' at 'shardLevelMetrics' failed to satisfy constraint: \
         Member must satisfy constraint: [Member must satisfy enum value set: [IncomingBytes, IncomingRecords, OutgoingBytes, \
         OutgoingRecords, WriteProvisionedThroughputExceeded, ReadProvisionedThroughputExceeded, IteratorAgeMilliseconds, ALL]]"
    );
}

#[test]
fn lengths_count_utf16_units() {
    // 128 two-unit characters = 256 UTF-16 units: too long for a 128 max.
    let k = "\u{1F600}".repeat(64);
    ok("RemoveTagsFromStream", json!({"TagKeys": [k]}));
    let k = "\u{1F600}".repeat(65);
    assert!(matches!(
        check_input("RemoveTagsFromStream", &json!({"TagKeys": [k]})),
        Err(InputError::Validation(_))
    ));
}

/// Every operation accepts `{}` or fails only with `Member must not be null` errors, one
/// per required member, in model order.
#[test]
fn every_operation_checkable_with_empty_body() {
    let m = model();
    let mut n = 0;
    for op in m.operation_names() {
        n += 1;
        let shape = m
            .input_shape(op)
            .expect("every operation has an input shape");
        let required: Vec<&str> = shape
            .members
            .iter()
            .filter(|mb| mb.required)
            .map(|mb| mb.path_name.as_str())
            .collect();
        match check_input(op, &json!({})) {
            Ok(()) => assert!(required.is_empty(), "{op}: {required:?} not reported"),
            Err(InputError::Validation(msg)) => {
                let (head, rest) = msg.split_once(" detected: ").unwrap();
                let count = required.len().min(MAX_REPORTED_ERRORS);
                let plural = if count == 1 { "error" } else { "errors" };
                assert_eq!(head, format!("{count} validation {plural}"), "{op}");
                let expected: Vec<String> = required
                    .iter()
                    .take(count)
                    .map(|p| format!("Value null at '{p}' failed to satisfy constraint: Member must not be null"))
                    .collect();
                assert_eq!(rest, expected.join("; "), "{op}");
            }
            Err(e) => panic!("{op}: {e:?}"),
        }
    }
    assert_eq!(n, 39);
}

#[test]
fn long_values_are_cut_in_messages() {
    // 100 000 empty records: every one fails two constraints, the message stays small.
    let records: Vec<Value> = (0..100_000).map(|_| json!({})).collect();
    let m = validation("PutRecords", json!({"StreamName": "s", "Records": records}));
    assert!(m.len() < 80 * 1024, "message of {} bytes", m.len());
    assert!(m.contains("PutRecordsRequestEntry@2, "), "{m}");
    assert!(m.contains("...' at 'records'"), "{m}");
    let long = "é".repeat(20_000);
    let m = validation("DescribeStream", json!({"StreamName": long}));
    let cut = format!("'{}...' at 'streamName'", "é".repeat(16 * 1024));
    assert!(m.contains(&cut), "{}", &m[..200]);
}
