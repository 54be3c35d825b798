// The JS v3 client against a running Shoal (SHOAL_ENDPOINT): it speaks HTTP/2 with prior
// knowledge to http:// endpoints. Create, put, get, reshard, tag and delete.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  KinesisClient,
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  PutRecordsCommand,
  ListShardsCommand,
  GetShardIteratorCommand,
  GetRecordsCommand,
  SplitShardCommand,
  AddTagsToStreamCommand,
  ListTagsForStreamCommand,
  DeleteStreamCommand,
  DescribeStreamCommand,
} from "@aws-sdk/client-kinesis";

const kinesis = new KinesisClient({
  endpoint: process.env.SHOAL_ENDPOINT,
  region: "us-east-1",
  credentials: { accessKeyId: "AKIDJS", secretAccessKey: "secret" },
});

async function waitActive(name) {
  for (let i = 0; i < 100; i++) {
    const d = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (d.StreamDescriptionSummary.StreamStatus === "ACTIVE") return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${name} never became ACTIVE`);
}

async function readShard(name, shardId) {
  const it = await kinesis.send(
    new GetShardIteratorCommand({ StreamName: name, ShardId: shardId, ShardIteratorType: "TRIM_HORIZON" }),
  );
  const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: it.ShardIterator }));
  return out;
}

test("create, put, get, reshard, tag, delete over HTTP/2", async () => {
  const name = "js-scenario";
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 2 }));
  await waitActive(name);

  const enc = new TextEncoder();
  const put = await kinesis.send(
    new PutRecordsCommand({
      StreamName: name,
      Records: Array.from({ length: 20 }, (_, i) => ({ Data: enc.encode(`rec-${i}`), PartitionKey: `key-${i}` })),
    }),
  );
  assert.equal(put.FailedRecordCount, 0);
  assert.equal(put.Records.length, 20);

  const shards = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards;
  assert.equal(shards.length, 2);
  const seen = new Map();
  for (const s of shards) {
    const out = await readShard(name, s.ShardId);
    assert.ok(out.NextShardIterator);
    for (const r of out.Records) {
      seen.set(r.SequenceNumber, new TextDecoder().decode(r.Data));
      assert.ok(r.ApproximateArrivalTimestamp instanceof Date);
    }
  }
  put.Records.forEach((r, i) => assert.equal(seen.get(r.SequenceNumber), `rec-${i}`));

  await kinesis.send(
    new SplitShardCommand({
      StreamName: name,
      ShardToSplit: "shardId-000000000000",
      NewStartingHashKey: (2n ** 126n).toString(),
    }),
  );
  await waitActive(name);
  const after = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards;
  assert.equal(after.length, 4);
  const parent = await readShard(name, "shardId-000000000000");
  assert.equal(parent.NextShardIterator, undefined);
  assert.deepEqual(
    parent.ChildShards.map((c) => c.ShardId),
    ["shardId-000000000002", "shardId-000000000003"],
  );

  await kinesis.send(new AddTagsToStreamCommand({ StreamName: name, Tags: { team: "js", env: "test" } }));
  const tags = await kinesis.send(new ListTagsForStreamCommand({ StreamName: name }));
  assert.deepEqual(tags.Tags, [
    { Key: "env", Value: "test" },
    { Key: "team", Value: "js" },
  ]);

  await kinesis.send(new DeleteStreamCommand({ StreamName: name }));
  await assert.rejects(kinesis.send(new DescribeStreamCommand({ StreamName: name })), (e) => {
    assert.equal(e.name, "ResourceNotFoundException");
    return true;
  });
});

test("errors carry their codes", async () => {
  await assert.rejects(kinesis.send(new DescribeStreamCommand({ StreamName: "missing-js" })), (e) => {
    assert.equal(e.name, "ResourceNotFoundException");
    assert.equal(e.message, "Stream missing-js under account 000000000000 not found.");
    assert.equal(e.$metadata.httpStatusCode, 400);
    return true;
  });
});

test.after(() => kinesis.destroy());
