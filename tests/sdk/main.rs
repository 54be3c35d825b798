//! Black-box tests: a real Shoal server on 127.0.0.1:0 with a temporary data dir,
//! driven by the real `aws-sdk-kinesis` crate (and boto3, the AWS CLI and the JS v3 client
//! through scenarios in `clients`). All SDK
//! tests live in this one binary so the SDK is linked once.

mod attacks;
mod cbor;
mod cli;
mod clients;
mod common;
mod consumers;
mod durability;
mod encryption;
mod exhaustion;
mod faults;
mod hostile;
#[cfg(feature = "kafka")]
mod kafka;
mod on_demand;
mod operate;
mod policies;
mod records;
mod reshard;
mod retention;
mod scale;
mod settings;
mod shards;
mod sigv4;
mod smoke;
mod streams;
mod subscribe;
mod tags;
mod throttle;
mod tls;
mod wire;
