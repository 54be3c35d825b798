"""The round trip most users make, through boto3 against a running Shoal.

Run by the Rust test `boto3::round_trip` with SHOAL_ENDPOINT set; boto3 reads error
codes from `__type` only, so this also proves the error bodies are right.
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
