//! Stream and account settings: the UPDATING of a setting change (encryption has its
//! own module), enhanced monitoring, DescribeLimits, account settings (billing commitment) and warm
//! throughput; settings survive a restart.

use std::sync::Arc;

use aws_sdk_kinesis::types::{
    EncryptionType, MetricsName, MinimumThroughputBillingCommitmentInput,
    MinimumThroughputBillingCommitmentInputStatus as In,
    MinimumThroughputBillingCommitmentOutputStatus as Out, StreamMode,
};
use aws_sdk_kinesis::Client;
use shoal::broker::ManualClock;

use crate::common::*;

async fn commitment(c: &Client, status: In) -> Out {
    c.update_account_settings()
        .minimum_throughput_billing_commitment(
            MinimumThroughputBillingCommitmentInput::builder()
                .status(status)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .minimum_throughput_billing_commitment()
        .unwrap()
        .status()
        .clone()
}

#[tokio::test]
async fn setting_changes_show_updating_then_active() {
    let s = start_with(false, |c| c.streams.update_delay_ms = 300).await;
    let c = &s.client;
    create_active(c, "u", 1).await;
    c.start_stream_encryption()
        .stream_name("u")
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap();
    let d = summary(c, "u").await;
    assert_eq!(d.stream_status().as_str(), "UPDATING");
    // Another setting change must wait for ACTIVE.
    let err = c
        .enable_enhanced_monitoring()
        .stream_name("u")
        .shard_level_metrics(MetricsName::All)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    // Writes go on while UPDATING.
    put(c, "u", "k", b"x").await;
    wait_active(c, "u").await;
}

#[tokio::test]
async fn enhanced_monitoring_expands_all_and_reports_before_and_after() {
    let s = start_in_memory().await;
    let c = &s.client;
    create_active(c, "m", 1).await;
    let out = c
        .enable_enhanced_monitoring()
        .stream_name("m")
        .shard_level_metrics(MetricsName::IncomingBytes)
        .send()
        .await
        .unwrap();
    assert_eq!(out.stream_name(), Some("m"));
    assert_eq!(
        out.stream_arn(),
        Some("arn:aws:kinesis:us-east-1:000000000000:stream/m")
    );
    assert!(out.current_shard_level_metrics().is_empty());
    assert_eq!(
        out.desired_shard_level_metrics(),
        &[MetricsName::IncomingBytes]
    );

    let out = c
        .enable_enhanced_monitoring()
        .stream_name("m")
        .shard_level_metrics(MetricsName::All)
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.current_shard_level_metrics(),
        &[MetricsName::IncomingBytes]
    );
    let all = vec![
        MetricsName::IncomingBytes,
        MetricsName::IncomingRecords,
        MetricsName::OutgoingBytes,
        MetricsName::OutgoingRecords,
        MetricsName::WriteProvisionedThroughputExceeded,
        MetricsName::ReadProvisionedThroughputExceeded,
        MetricsName::IteratorAgeMilliseconds,
    ];
    assert_eq!(out.desired_shard_level_metrics(), all.as_slice());
    let d = c.describe_stream().stream_name("m").send().await.unwrap();
    assert_eq!(
        d.stream_description().unwrap().enhanced_monitoring()[0].shard_level_metrics(),
        all.as_slice()
    );

    let out = c
        .disable_enhanced_monitoring()
        .stream_name("m")
        .shard_level_metrics(MetricsName::OutgoingBytes)
        .shard_level_metrics(MetricsName::IteratorAgeMilliseconds)
        .send()
        .await
        .unwrap();
    assert_eq!(out.current_shard_level_metrics(), all.as_slice());
    assert_eq!(out.desired_shard_level_metrics().len(), 5);
    let out = c
        .disable_enhanced_monitoring()
        .stream_name("m")
        .shard_level_metrics(MetricsName::All)
        .send()
        .await
        .unwrap();
    assert!(out.desired_shard_level_metrics().is_empty());
    let d = summary(c, "m").await;
    assert!(d.enhanced_monitoring()[0].shard_level_metrics().is_empty());

    let err = c
        .enable_enhanced_monitoring()
        .stream_name("m")
        .shard_level_metrics(MetricsName::from("Bogus"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    let err = c
        .enable_enhanced_monitoring()
        .stream_name("missing")
        .shard_level_metrics(MetricsName::All)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn describe_limits_counts_provisioned_shards_and_on_demand_streams() {
    let s = start_with(false, |c| c.streams.shard_limit = 123).await;
    let c = &s.client;
    let l = c.describe_limits().send().await.unwrap();
    assert_eq!(
        (
            l.shard_limit(),
            l.open_shard_count(),
            l.on_demand_stream_count(),
            l.on_demand_stream_count_limit()
        ),
        (123, 0, 0, 50)
    );
    create_active(c, "a", 3).await;
    create_active(c, "b", 2).await;
    create_on_demand(c, "od").await;
    let l = c.describe_limits().send().await.unwrap();
    assert_eq!(l.open_shard_count(), 5, "on-demand shards do not count");
    assert_eq!(l.on_demand_stream_count(), 1);
    // Splitting adds an open shard; the parent closes.
    c.update_shard_count()
        .stream_name("b")
        .target_shard_count(4)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    let l = c.describe_limits().send().await.unwrap();
    assert_eq!(l.open_shard_count(), 7);
    // Another region is another namespace.
    let west = client(&s.endpoint, "us-west-2");
    assert_eq!(
        west.describe_limits()
            .send()
            .await
            .unwrap()
            .open_shard_count(),
        0
    );
}

#[tokio::test]
async fn billing_commitment_and_warm_throughput() {
    let start = 1_800_000_000_000;
    let clock = Arc::new(ManualClock::new(start));
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(Some(&dir));
    let running = shoal::server::spawn_with_clock(config.clone(), clock.clone())
        .await
        .unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");

    let d = c.describe_account_settings().send().await.unwrap();
    let m = d.minimum_throughput_billing_commitment().unwrap();
    assert_eq!(m.status(), &Out::Disabled);
    assert!(m.started_at().is_none());

    create_on_demand(&c, "od").await;
    create_active(&c, "prov", 1).await;
    let err = c
        .update_stream_warm_throughput()
        .stream_name("od")
        .warm_throughput_mibps(100)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException", "no commitment yet");

    assert_eq!(commitment(&c, In::Enabled).await, Out::Enabled);
    let d = c.describe_account_settings().send().await.unwrap();
    let m = d.minimum_throughput_billing_commitment().unwrap();
    assert_eq!(m.started_at().unwrap().to_millis().unwrap(), start);
    assert_eq!(
        m.earliest_allowed_end_at().unwrap().to_millis().unwrap(),
        start + 24 * 3_600_000
    );

    let err = c
        .update_stream_warm_throughput()
        .stream_name("prov")
        .warm_throughput_mibps(100)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&err),
        "ValidationException",
        "provisioned streams have no warm throughput"
    );
    let out = c
        .update_stream_warm_throughput()
        .stream_name("od")
        .warm_throughput_mibps(100)
        .send()
        .await
        .unwrap();
    assert_eq!(out.stream_name(), Some("od"));
    assert_eq!(
        out.stream_arn(),
        Some("arn:aws:kinesis:us-east-1:000000000000:stream/od")
    );
    let w = out.warm_throughput().unwrap();
    assert_eq!(w.target_mibps(), Some(100));
    assert_eq!(w.current_mibps(), Some(4));
    let sum = summary(&c, "od").await;
    let w = sum.warm_throughput().unwrap();
    assert_eq!((w.target_mibps(), w.current_mibps()), (Some(100), Some(4)));
    let err = c
        .update_stream_warm_throughput()
        .stream_name("od")
        .warm_throughput_mibps(20_000)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidArgumentException");

    // Disabling before the earliest allowed end keeps it in force until then.
    clock.advance_ms(3_600_000);
    assert_eq!(
        commitment(&c, In::Disabled).await,
        Out::EnabledUntilEarliestAllowedEnd
    );
    let d = c.describe_account_settings().send().await.unwrap();
    let m = d.minimum_throughput_billing_commitment().unwrap();
    assert_eq!(
        m.ended_at().unwrap().to_millis().unwrap(),
        start + 24 * 3_600_000
    );
    c.update_stream_warm_throughput()
        .stream_name("od")
        .warm_throughput_mibps(50)
        .send()
        .await
        .unwrap();

    // Stream settings and the account's commitment survive a restart.
    c.enable_enhanced_monitoring()
        .stream_name("prov")
        .shard_level_metrics(MetricsName::IncomingRecords)
        .send()
        .await
        .unwrap();
    c.start_stream_encryption()
        .stream_name("prov")
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap();
    running.stop().await.unwrap();
    config.server.port = 0;
    let running = shoal::server::spawn_with_clock(config, clock.clone())
        .await
        .unwrap();
    let c = client(&format!("http://{}", running.addr), "us-east-1");
    let d = c.describe_account_settings().send().await.unwrap();
    assert_eq!(
        d.minimum_throughput_billing_commitment().unwrap().status(),
        &Out::EnabledUntilEarliestAllowedEnd
    );
    let sum = summary(&c, "prov").await;
    assert_eq!(sum.key_id(), Some("alias/aws/kinesis"));
    assert_eq!(
        sum.enhanced_monitoring()[0].shard_level_metrics(),
        &[MetricsName::IncomingRecords]
    );
    let sum = summary(&c, "od").await;
    assert_eq!(sum.warm_throughput().unwrap().target_mibps(), Some(50));

    // After the earliest end it is over: warm throughput is refused again.
    clock.advance_ms(24 * 3_600_000);
    let d = c.describe_account_settings().send().await.unwrap();
    assert_eq!(
        d.minimum_throughput_billing_commitment().unwrap().status(),
        &Out::Disabled
    );
    let err = c
        .update_stream_warm_throughput()
        .stream_name("od")
        .warm_throughput_mibps(10)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ValidationException");
    // Enabling again starts a new commitment.
    assert_eq!(commitment(&c, In::Enabled).await, Out::Enabled);
    let d = c.describe_account_settings().send().await.unwrap();
    let m = d.minimum_throughput_billing_commitment().unwrap();
    assert_eq!(
        m.started_at().unwrap().to_millis().unwrap(),
        start + 25 * 3_600_000
    );
    assert!(m.ended_at().is_none());
    // Disabling after the earliest end disables at once.
    clock.advance_ms(25 * 3_600_000);
    assert_eq!(commitment(&c, In::Disabled).await, Out::Disabled);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn at_most_fifty_on_demand_streams_per_account() {
    let s = start_with(false, |c| c.streams.on_demand_shard_count = 1).await;
    let c = &s.client;
    for i in 0..50 {
        create_on_demand(c, &format!("od{i}")).await;
    }
    let err = c
        .create_stream()
        .stream_name("one-too-many")
        .stream_mode_details(mode_details(StreamMode::OnDemand))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "LimitExceededException");
    create_active(c, "prov", 1).await;
    let err = c
        .update_stream_mode()
        .stream_arn("arn:aws:kinesis:us-east-1:000000000000:stream/prov")
        .stream_mode_details(mode_details(StreamMode::OnDemand))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "LimitExceededException");
    let l = c.describe_limits().send().await.unwrap();
    assert_eq!((l.on_demand_stream_count(), l.open_shard_count()), (50, 1));
}

#[tokio::test]
async fn at_most_25_encryption_changes_per_day() {
    let clock = Arc::new(ManualClock::new(1_800_000_000_000));
    let s = start_with_clock(false, |_| {}, clock.clone()).await;
    let c = &s.client;
    create_active(c, "e", 1).await;
    let change = |i: usize| {
        let c = c.clone();
        async move {
            if i % 2 == 0 {
                c.start_stream_encryption()
                    .stream_name("e")
                    .encryption_type(EncryptionType::Kms)
                    .key_id("alias/aws/kinesis")
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| code(&e))
            } else {
                c.stop_stream_encryption()
                    .stream_name("e")
                    .encryption_type(EncryptionType::Kms)
                    .key_id("alias/aws/kinesis")
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| code(&e))
            }
        }
    };
    for i in 0..25 {
        change(i).await.unwrap();
    }
    assert_eq!(change(25).await.unwrap_err(), "LimitExceededException");
    clock.advance_ms(24 * 3_600_000);
    change(25).await.unwrap();
}
