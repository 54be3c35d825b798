//! The `X-Amz-Target` table: `Kinesis_20131202.<Operation>` to an [`Operation`].

/// The service's target prefix, from the model's metadata.
pub const TARGET_PREFIX: &str = "Kinesis_20131202";

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// Every operation of the Kinesis model (API version 2013-12-02).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation { $($name),* }

        impl Operation {
            pub const ALL: &'static [Operation] = &[$(Operation::$name),*];

            /// The operation's name as the model and the target header spell it.
            pub fn name(self) -> &'static str {
                match self { $(Operation::$name => stringify!($name)),* }
            }
        }
    };
}

operations!(
    AddTagsToStream,
    CreateStream,
    DecreaseStreamRetentionPeriod,
    DeleteResourcePolicy,
    DeleteStream,
    DeregisterStreamConsumer,
    DescribeAccountSettings,
    DescribeLimits,
    DescribeStream,
    DescribeStreamConsumer,
    DescribeStreamSummary,
    DisableEnhancedMonitoring,
    EnableEnhancedMonitoring,
    GetRecords,
    GetResourcePolicy,
    GetShardIterator,
    IncreaseStreamRetentionPeriod,
    ListShards,
    ListStreamConsumers,
    ListStreams,
    ListTagsForResource,
    ListTagsForStream,
    MergeShards,
    PutRecord,
    PutRecords,
    PutResourcePolicy,
    RegisterStreamConsumer,
    RemoveTagsFromStream,
    SplitShard,
    StartStreamEncryption,
    StopStreamEncryption,
    SubscribeToShard,
    TagResource,
    UntagResource,
    UpdateAccountSettings,
    UpdateMaxRecordSize,
    UpdateShardCount,
    UpdateStreamMode,
    UpdateStreamWarmThroughput,
);

impl Operation {
    /// Parses a target header value; names are case-sensitive as on AWS.
    pub fn from_target(target: &str) -> Option<Operation> {
        let (prefix, name) = target.split_once('.')?;
        if prefix != TARGET_PREFIX {
            return None;
        }
        Operation::ALL.iter().copied().find(|op| op.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        assert_eq!(
            Operation::from_target("Kinesis_20131202.PutRecords"),
            Some(Operation::PutRecords)
        );
        assert_eq!(Operation::from_target("Kinesis_20131202.putRecords"), None);
        assert_eq!(Operation::from_target("Kinesis_20131201.PutRecords"), None);
        assert_eq!(Operation::from_target("PutRecords"), None);
        assert_eq!(Operation::ALL.len(), 39);
    }
}
