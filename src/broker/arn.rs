//! Stream ARNs (`arn:aws:kinesis:<region>:<account>:stream/<name>`) and shard ids
//! (`shardId-000000000007`).

pub fn stream_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:kinesis:{region}:{account}:stream/{name}")
}

/// The parts of a stream ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamArn {
    pub region: String,
    pub account: String,
    pub name: String,
}

pub fn parse_stream_arn(arn: &str) -> Option<StreamArn> {
    let mut parts = arn.splitn(6, ':');
    let (arn_lit, partition, service) = (parts.next()?, parts.next()?, parts.next()?);
    let (region, account, resource) = (parts.next()?, parts.next()?, parts.next()?);
    if arn_lit != "arn" || !partition.starts_with("aws") || service != "kinesis" {
        return None;
    }
    let name = resource.strip_prefix("stream/")?;
    // A consumer ARN continues with /consumer/...: not a stream ARN.
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some(StreamArn {
        region: region.to_string(),
        account: account.to_string(),
        name: name.to_string(),
    })
}

/// `<stream ARN>/consumer/<name>:<creation epoch seconds>`.
pub fn consumer_arn(stream_arn: &str, name: &str, created_ms: i64) -> String {
    format!(
        "{stream_arn}/consumer/{name}:{}",
        created_ms.div_euclid(1000)
    )
}

/// The parts of a consumer ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerArn {
    pub stream: StreamArn,
    pub name: String,
    /// The creation second the ARN carries.
    pub created_secs: i64,
}

pub fn parse_consumer_arn(arn: &str) -> Option<ConsumerArn> {
    let (stream, rest) = arn.split_once("/consumer/")?;
    let stream = parse_stream_arn(stream)?;
    let (name, secs) = rest.rsplit_once(':')?;
    if name.is_empty() || name.contains('/') || secs.is_empty() {
        return None;
    }
    if !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(ConsumerArn {
        stream,
        name: name.to_string(),
        created_secs: secs.parse().ok()?,
    })
}

pub fn shard_id(index: u32) -> String {
    format!("shardId-{index:012}")
}

/// The index in a shard id. Like AWS, only the number after the last `-` counts, so
/// `shardId-1` and `shardId-000000000001` name the same shard.
pub fn parse_shard_id(id: &str) -> Option<u32> {
    let digits = id.rsplit('-').next()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_round_trip() {
        let arn = stream_arn("eu-west-1", "123456789012", "orders");
        assert_eq!(arn, "arn:aws:kinesis:eu-west-1:123456789012:stream/orders");
        let p = parse_stream_arn(&arn).unwrap();
        assert_eq!(
            (p.region.as_str(), p.account.as_str(), p.name.as_str()),
            ("eu-west-1", "123456789012", "orders")
        );
        assert!(parse_stream_arn("arn:aws:kinesis:r:1:stream/s/consumer/c:1").is_none());
        assert!(parse_stream_arn("arn:aws:sqs:r:1:stream/s").is_none());
    }

    #[test]
    fn consumer_arns_round_trip() {
        let s = stream_arn("us-east-1", "000000000000", "s1");
        let c = consumer_arn(&s, "c.1", 1_700_000_000_999);
        assert_eq!(
            c,
            "arn:aws:kinesis:us-east-1:000000000000:stream/s1/consumer/c.1:1700000000"
        );
        let p = parse_consumer_arn(&c).unwrap();
        assert_eq!(p.stream.name, "s1");
        assert_eq!(p.name, "c.1");
        assert_eq!(p.created_secs, 1_700_000_000);
        assert!(parse_consumer_arn(&s).is_none());
        assert!(parse_consumer_arn(&format!("{s}/consumer/c")).is_none());
        assert!(parse_consumer_arn(&format!("{s}/consumer/c:x1")).is_none());
        assert!(parse_consumer_arn(&format!("{s}/consumer/:1")).is_none());
    }

    #[test]
    fn shard_ids() {
        assert_eq!(shard_id(7), "shardId-000000000007");
        assert_eq!(parse_shard_id("shardId-000000000007"), Some(7));
        assert_eq!(parse_shard_id("shardId-7"), Some(7));
        assert_eq!(parse_shard_id("shardId-"), None);
        assert_eq!(parse_shard_id("shardId-x"), None);
    }
}
