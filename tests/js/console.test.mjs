// The web console (/console) end to end, in headless Chromium, against a running Shoal
// (SHOAL_ENDPOINT; this test does not start one). It creates its own stream through the
// Kinesis API, puts traffic, and checks what the page shows: the stream list, the
// shard map, the rates, the record browser, and the map after a split.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import {
  KinesisClient,
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  ListShardsCommand,
  PutRecordsCommand,
  PutRecordCommand,
  SplitShardCommand,
  DeleteStreamCommand,
} from "@aws-sdk/client-kinesis";

const endpoint = process.env.SHOAL_ENDPOINT;
const kinesis = new KinesisClient({
  endpoint,
  region: "us-east-1",
  credentials: { accessKeyId: "AKIDJS", secretAccessKey: "secret" },
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = new TextEncoder();

async function waitActive(name) {
  for (let i = 0; i < 200; i++) {
    const d = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (d.StreamDescriptionSummary.StreamStatus === "ACTIVE") return;
    await sleep(50);
  }
  throw new Error(`${name} never became ACTIVE`);
}

// Counts the shard map's open and closed shards, in the page.
const mapCounts = (page) =>
  page.evaluate(() => ({
    stream: document.querySelector("#shard-map")?.dataset.stream,
    open: document.querySelectorAll("#shard-map [data-shard-id].open").length,
    closed: document.querySelectorAll("#shard-map [data-shard-id].closed").length,
  }));

test("the console shows streams, shards, rates and records", { timeout: 120_000 }, async () => {
  assert.ok(endpoint, "SHOAL_ENDPOINT must point at a running Shoal");
  const name = `console-e2e-${Math.random().toString(36).slice(2, 10)}`;
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: 2 }));
  let browser;
  try {
    await waitActive(name);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    // Any error the page logs or throws fails the test.
    const errors = [];
    page.on("console", (m) => m.type() === "error" && errors.push(`console: ${m.text()}`));
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    await page.goto(`${endpoint}/console`, { timeout: 15_000 });

    // The stream list shows the stream; selecting it shows its two open shards.
    const item = page.locator(`#streams [data-stream="${name}"]`);
    await item.waitFor({ timeout: 10_000 });
    await item.click();
    await page.waitForFunction(
      (n) => document.querySelector(`#streams [data-stream="${n}"]`)?.classList.contains("selected"),
      name,
      { timeout: 5_000 },
    );
    assert.match(await item.textContent(), /ACTIVE/);
    await page.waitForFunction(
      (n) => document.querySelector("#shard-map")?.dataset.stream === n,
      name,
      { timeout: 5_000 },
    );
    assert.deepEqual(await mapCounts(page), { stream: name, open: 2, closed: 0 });

    // Steady traffic, 50 records every 200 ms for 4 s, over keys that hit both shards;
    // the page must show a non-zero incoming rate while it flows.
    const put = []; // [{text, shard}] in put order
    const traffic = (async () => {
      for (let batch = 0; batch < 20; batch++) {
        const records = Array.from({ length: 50 }, (_, i) => ({
          Data: enc.encode(`hello-console-${batch * 50 + i}`),
          PartitionKey: `pk-${i}`,
        }));
        const out = await kinesis.send(new PutRecordsCommand({ StreamName: name, Records: records }));
        assert.equal(out.FailedRecordCount, 0);
        out.Records.forEach((r, i) => put.push({ text: `hello-console-${batch * 50 + i}`, shard: r.ShardId }));
        await sleep(200);
      }
    })();
    const rateShown = page.waitForFunction(
      () => {
        const total = Number(document.querySelector("#total-in-rate")?.dataset.value);
        const rows = [...document.querySelectorAll("#shard-rates [data-shard]")];
        // At least 10% of the 250 records/s put, so a rate in the wrong unit fails.
        return total >= 25 && rows.some((r) => Number(r.dataset.inRate) > 0);
      },
      null,
      { timeout: 15_000, polling: 100 },
    );
    await Promise.all([traffic, rateShown]);
    assert.equal(new Set(put.map((p) => p.shard)).size, 2, "the partition keys should hit both shards");
    const total = Number(await page.getAttribute("#total-in-rate", "data-value"));
    assert.ok(total < 5_000, `an incoming rate of ${total} records/s is more than was put`);
    assert.equal(await page.locator("#shard-rates [data-shard]").count(), 2);
    // The charts have a line per open shard, with a legend naming them.
    assert.equal(await page.getAttribute("#chart-in", "data-lines"), "2");
    assert.equal(await page.getAttribute("#chart-out", "data-lines"), "2");
    const shardIds = [...new Set(put.map((p) => p.shard))].sort();
    for (const id of shardIds) await page.locator(`#legend [data-legend-shard="${id}"]`).waitFor({ timeout: 2_000 });
    // CONSOLE_SCREENSHOT=file.png keeps a picture of the page under traffic.
    if (process.env.CONSOLE_SCREENSHOT) await page.screenshot({ path: process.env.CONSOLE_SCREENSHOT, fullPage: true });

    // The record browser: clicking a shard in the map tails it; the newest records
    // are there, and one put afterwards shows up.
    const last = put.at(-1);
    await page.click(`#shard-map [data-shard-id="${last.shard}"]`);
    assert.equal(await page.inputValue("#record-shard"), last.shard);
    const row = (text) => page.locator("#records tr.record").filter({ has: page.getByText(text, { exact: true }) });
    await row(last.text).first().waitFor({ timeout: 10_000 });
    const shards = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards;
    const target = shards.find((s) => s.ShardId === last.shard);
    const fresh = `hello-console-tail-${Math.random().toString(36).slice(2, 8)}`;
    const sent = await kinesis.send(
      new PutRecordCommand({
        StreamName: name,
        Data: enc.encode(fresh),
        PartitionKey: "tail-key",
        ExplicitHashKey: target.HashKeyRange.StartingHashKey,
      }),
    );
    assert.equal(sent.ShardId, last.shard);
    await row(fresh).waitFor({ timeout: 10_000 });
    const cells = await row(fresh).locator("td").allTextContents();
    assert.equal(cells[0], sent.SequenceNumber);
    assert.equal(cells[1], "tail-key");
    assert.match(cells[2], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(cells[3], fresh);
    assert.equal(
      await page.locator("#records tr.record").first().getAttribute("data-seq"),
      sent.SequenceNumber,
      "the newest record is on top",
    );

    // Split shard 0 in the middle of its range: the map shows the parent closed and
    // its two children open, one generation below it.
    const parent = shards.find((s) => s.ShardId === "shardId-000000000000");
    const mid = (BigInt(parent.HashKeyRange.StartingHashKey) + BigInt(parent.HashKeyRange.EndingHashKey)) / 2n;
    await kinesis.send(
      new SplitShardCommand({ StreamName: name, ShardToSplit: parent.ShardId, NewStartingHashKey: mid.toString() }),
    );
    await waitActive(name);
    await page.waitForFunction(
      () =>
        document.querySelectorAll("#shard-map [data-shard-id].open").length === 3 &&
        document.querySelectorAll("#shard-map [data-shard-id].closed").length === 1,
      null,
      { timeout: 10_000 },
    );
    assert.deepEqual(await mapCounts(page), { stream: name, open: 3, closed: 1 });
    const closed = page.locator("#shard-map [data-shard-id].closed");
    assert.equal(await closed.getAttribute("data-shard-id"), parent.ShardId);
    const parentBox = await closed.boundingBox();
    const after = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards;
    const children = after.filter((s) => s.ParentShardId === parent.ShardId);
    assert.equal(children.length, 2);
    for (const c of children) {
      const box = await page.locator(`#shard-map [data-shard-id="${c.ShardId}"]`).boundingBox();
      assert.ok(box.y > parentBox.y + parentBox.height, `${c.ShardId} is drawn below its parent`);
      assert.ok(box.x >= parentBox.x - 1 && box.x + box.width <= parentBox.x + parentBox.width + 1, `${c.ShardId} lies within its parent's range`);
    }

    assert.deepEqual(errors, [], "the page logged errors");
  } finally {
    await browser?.close();
    await kinesis.send(new DeleteStreamCommand({ StreamName: name })).catch(() => {});
  }
});
