//! The SDK suite's behavioural tests once more over the Kafka store: this test runs its
//! own binary again with `SHOAL_TEST_STORE=kafka`, so every server those tests start is
//! two nodes over Kafka, with records read through the second (`common/kafka.rs`).

use std::process::Command;

use crate::common::{kafka, kafka_store};

/// The modules that run again: what a client sees, whatever the store.
const MODULES: [&str; 16] = [
    "streams::",
    "encryption::",
    "records::",
    "shards::",
    "reshard::",
    "subscribe::",
    "consumers::",
    "tags::",
    "policies::",
    "settings::",
    "throttle::",
    "on_demand::",
    "smoke::",
    "cbor::",
    "wire::",
    // Export and import: how a stream moves onto the Kafka store.
    "cli::a_stream_exported_from_one_server_imports_into_another",
];

/// Tests of those modules that check what only the local store does, and why.
const SKIPPED: [(&str, &str); 10] = [
    // On Kafka a record's arrival time is the broker's clock, not the injected one.
    (
        "records::arrival_timestamps_have_millisecond_precision",
        "arrival times from an injected clock",
    ),
    (
        "records::at_timestamp_is_inclusive_to_the_millisecond",
        "arrival times from an injected clock",
    ),
    (
        "records::millis_behind_latest_when_behind",
        "arrival times from an injected clock",
    ),
    (
        "records::records_past_retention_are_invisible",
        "arrival times from an injected clock",
    ),
    (
        "subscribe::at_sequence_number_and_at_timestamp_start_where_asked",
        "arrival times from an injected clock",
    ),
    // A Kafka node's restart is `kafka::a_killed_node_loses_nothing_acknowledged`.
    (
        "records::at_timestamp_after_a_restart_on_disk",
        "restarts a server on its data dir",
    ),
    (
        "records::iterators_and_sequence_numbers_survive_a_restart",
        "restarts a server on its data dir",
    ),
    (
        "encryption::a_rotated_key_encrypts_with_its_newest_version_and_reads_with_all",
        "restarts a server on its data dir",
    ),
    // On Kafka the records are in Kafka's files, not the data dir.
    (
        "encryption::an_encrypted_stream_leaves_nothing_readable_on_disk",
        "scans the data dir for the records",
    ),
    (
        "operate::metrics_move_with_traffic",
        "one node's /metrics, while reads go through the other",
    ),
];

#[test]
fn the_sdk_suite_passes_over_kafka() {
    if kafka_store() {
        return;
    }
    let mut run = Command::new(std::env::current_exe().unwrap());
    run.env("SHOAL_TEST_STORE", "kafka")
        .env("SHOAL_TEST_KAFKA", kafka())
        .args(MODULES)
        .arg("--test-threads=2");
    for (name, _why) in SKIPPED {
        run.args(["--skip", name]);
    }
    let out = run.output().expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("FAILED") || l.starts_with("test result"))
        .collect();
    assert!(
        out.status.success(),
        "over Kafka:\n{}\n{}",
        summary.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("over Kafka: {}", summary.join("; "));
}
