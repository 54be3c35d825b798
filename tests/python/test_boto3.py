"""The round trip most users make, through boto3 against a running Shoal.

Run by the Rust tests `clients::boto3_*` with SHOAL_ENDPOINT set; boto3 reads error
codes from `__type` only, so this also proves the error bodies are right. Covers create /
put / get / reshard / tag / delete, and enhanced fan-out with subscribe_to_shard.
"""

import os
import unittest

import boto3
import botocore.exceptions

ENDPOINT = os.environ["SHOAL_ENDPOINT"]
# Set when the server verifies signatures: the key to sign with and its account.
ACCESS_KEY = os.environ.get("SHOAL_ACCESS_KEY", "AKIDBOTO3")
SECRET = os.environ.get("SHOAL_SECRET", "secret")
ACCOUNT = os.environ.get("SHOAL_ACCOUNT", "000000000000")


def client(region="us-east-1"):
    return boto3.client(
        "kinesis",
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
    )


class RoundTrip(unittest.TestCase):
    def setUp(self):
        self.k = client()

    def test_create_put_get_delete(self):
        k = self.k
        k.create_stream(StreamName="boto", ShardCount=2)
        k.get_waiter("stream_exists").wait(StreamName="boto", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        desc = k.describe_stream(StreamName="boto")["StreamDescription"]
        self.assertEqual(desc["StreamStatus"], "ACTIVE")
        self.assertEqual(len(desc["Shards"]), 2)
        self.assertEqual(desc["StreamARN"], "arn:aws:kinesis:us-east-1:%s:stream/boto" % ACCOUNT)

        one = k.put_record(StreamName="boto", Data=b"hello", PartitionKey="b")
        self.assertEqual(one["ShardId"], "shardId-000000000001")
        many = k.put_records(
            StreamName="boto",
            Records=[{"Data": bytes([i]) * i, "PartitionKey": "key-%d" % i} for i in range(100)],
        )
        self.assertEqual(many["FailedRecordCount"], 0)
        self.assertEqual(len(many["Records"]), 100)

        got = {}
        for shard in k.list_shards(StreamName="boto")["Shards"]:
            it = k.get_shard_iterator(
                StreamName="boto", ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            out = k.get_records(ShardIterator=it, Limit=1000)
            self.assertIn("NextShardIterator", out)
            self.assertEqual(out["MillisBehindLatest"], 0)
            for r in out["Records"]:
                got[r["SequenceNumber"]] = (r["PartitionKey"], r["Data"])
        self.assertEqual(got[one["SequenceNumber"]], ("b", b"hello"))
        for i, r in enumerate(many["Records"]):
            self.assertEqual(got[r["SequenceNumber"]], ("key-%d" % i, bytes([i]) * i))

        # Later pages carry NextToken alone (botocore's ListShards paginator resends
        # StreamName, which AWS rejects, and so does Shoal).
        page = k.list_shards(StreamName="boto", MaxResults=1)
        ids = [s["ShardId"] for s in page["Shards"]]
        while "NextToken" in page:
            page = k.list_shards(NextToken=page["NextToken"], MaxResults=1)
            ids += [s["ShardId"] for s in page["Shards"]]
        self.assertEqual(ids, ["shardId-000000000000", "shardId-000000000001"])
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            k.list_shards(StreamName="boto", NextToken="x")
        self.assertEqual(e.exception.response["Error"]["Code"], "InvalidArgumentException")

        k.delete_stream(StreamName="boto")
        k.get_waiter("stream_not_exists").wait(StreamName="boto", WaiterConfig={"Delay": 1, "MaxAttempts": 30})

    def test_reshard_and_tags(self):
        k = self.k
        k.create_stream(StreamName="boto-reshard", ShardCount=1)
        k.get_waiter("stream_exists").wait(StreamName="boto-reshard", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        before = k.put_record(StreamName="boto-reshard", Data=b"before", PartitionKey="k")
        k.split_shard(
            StreamName="boto-reshard",
            ShardToSplit="shardId-000000000000",
            NewStartingHashKey=str(2**127),
        )
        k.get_waiter("stream_exists").wait(StreamName="boto-reshard", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        shards = k.list_shards(StreamName="boto-reshard")["Shards"]
        self.assertEqual([s["ShardId"] for s in shards], ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"])
        self.assertEqual(shards[0]["SequenceNumberRange"]["EndingSequenceNumber"], before["SequenceNumber"])
        it = k.get_shard_iterator(StreamName="boto-reshard", ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        out = k.get_records(ShardIterator=it)
        self.assertEqual([r["Data"] for r in out["Records"]], [b"before"])
        self.assertNotIn("NextShardIterator", out)
        self.assertEqual([c["ShardId"] for c in out["ChildShards"]], ["shardId-000000000001", "shardId-000000000002"])

        k.add_tags_to_stream(StreamName="boto-reshard", Tags={"team": "py", "env": "test"})
        tags = k.list_tags_for_stream(StreamName="boto-reshard")["Tags"]
        self.assertEqual(tags, [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "py"}])
        k.remove_tags_from_stream(StreamName="boto-reshard", TagKeys=["env"])
        self.assertEqual(len(k.list_tags_for_stream(StreamName="boto-reshard")["Tags"]), 1)
        k.delete_stream(StreamName="boto-reshard")

    def test_subscribe_to_shard(self):
        k = self.k
        k.create_stream(StreamName="boto-fan", ShardCount=1)
        k.get_waiter("stream_exists").wait(StreamName="boto-fan", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        arn = k.describe_stream_summary(StreamName="boto-fan")["StreamDescriptionSummary"]["StreamARN"]
        consumer = k.register_stream_consumer(StreamARN=arn, ConsumerName="py")["Consumer"]
        for _ in range(50):
            if k.describe_stream_consumer(ConsumerARN=consumer["ConsumerARN"])["ConsumerDescription"]["ConsumerStatus"] == "ACTIVE":
                break
        sent = [k.put_record(StreamName="boto-fan", Data=b"fan-%d" % i, PartitionKey="k")["SequenceNumber"] for i in range(5)]
        resp = k.subscribe_to_shard(
            ConsumerARN=consumer["ConsumerARN"],
            ShardId="shardId-000000000000",
            StartingPosition={"Type": "TRIM_HORIZON"},
        )
        got = []
        for event in resp["EventStream"]:
            e = event["SubscribeToShardEvent"]
            got += [(r["SequenceNumber"], r["Data"]) for r in e["Records"]]
            self.assertIn("ContinuationSequenceNumber", e)
            if len(got) >= 5:
                break
        resp["EventStream"].close()
        self.assertEqual(got, [(s, b"fan-%d" % i) for i, s in enumerate(sent)])
        consumers = k.list_stream_consumers(StreamARN=arn)["Consumers"]
        self.assertEqual([c["ConsumerName"] for c in consumers], ["py"])
        k.delete_stream(StreamName="boto-fan", EnforceConsumerDeletion=True)

    def test_errors_carry_codes_and_messages(self):
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.k.describe_stream(StreamName="missing")
        self.assertEqual(e.exception.response["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(
            e.exception.response["Error"]["Message"],
            "Stream missing under account %s not found." % ACCOUNT,
        )
        with self.assertRaises(botocore.exceptions.ClientError) as e:
            self.k.create_stream(StreamName="bad name!", ShardCount=1)
        self.assertEqual(e.exception.response["Error"]["Code"], "ValidationException")
        self.assertIn("at 'streamName' failed to satisfy constraint", e.exception.response["Error"]["Message"])

    def test_list_streams_paginates(self):
        names = ["page-%02d" % i for i in range(7)]
        for n in names:
            self.k.create_stream(StreamName=n, ShardCount=1)
        pages = self.k.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 3})
        listed = [n for p in pages for n in p["StreamNames"] if n.startswith("page-")]
        self.assertEqual(listed, names)


if __name__ == "__main__":
    unittest.main(verbosity=2)
