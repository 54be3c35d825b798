//! `referrer-count consume`: one polling reader per shard (GetShardIterator, then
//! GetRecords until the shard ends), children started once all their parents are read
//! to the end, and a table of counts printed every `--interval` seconds.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::types::{ChildShard, ShardIteratorType};
use aws_sdk_kinesis::Client;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::client::{code, connect, describe, wait_active};
use crate::events::referrer_of;
use crate::window::Window;
use crate::Common;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StartAt {
    /// Everything the stream still holds.
    TrimHorizon,
    /// Only records written after the consumer starts.
    Latest,
}

#[derive(Debug, clap::Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Where to start reading the shards that are open (or, from trim-horizon, the
    /// oldest ones).
    #[arg(long, value_enum, default_value_t = StartAt::TrimHorizon)]
    pub from: StartAt,
    /// Print the table every this many seconds.
    #[arg(long, default_value_t = 5)]
    pub interval: u64,
    /// Width of the sliding window, in seconds of arrival time.
    #[arg(long, default_value_t = 60)]
    pub window: u64,
    /// Rows of the table.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<u64>,
}

/// What shard readers report to the coordinator.
enum Msg {
    /// (arrival second, referrer) of each record of one GetRecords call.
    Records(Vec<(u64, String)>),
    /// The shard is read to its end; these are its children.
    Ended {
        shard: String,
        children: Vec<ChildShard>,
    },
    /// The reader gave up on the shard.
    Failed { shard: String, error: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Reading,
    Done,
}

/// The shards known so far, with their parents, and which are being read.
struct Lineage {
    shards: HashMap<String, (Vec<String>, State)>,
}

impl Lineage {
    fn add(&mut self, shard: String, parents: Vec<String>, state: State) {
        self.shards.entry(shard).or_insert((parents, state));
    }

    /// Shards that may start now: waiting, and every parent read to the end (or not
    /// known, because it expired). Marks them as reading.
    fn startable(&mut self) -> Vec<String> {
        let ready: Vec<String> = self
            .shards
            .iter()
            .filter(|(_, (parents, state))| {
                *state == State::Waiting
                    && parents.iter().all(|p| {
                        self.shards
                            .get(p)
                            .is_none_or(|(_, parent_state)| *parent_state == State::Done)
                    })
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ready {
            if let Some(entry) = self.shards.get_mut(id) {
                entry.1 = State::Reading;
            }
        }
        ready
    }

    fn finish(&mut self, shard: &str) {
        if let Some(entry) = self.shards.get_mut(shard) {
            entry.1 = State::Done;
        }
    }

    fn reading(&self) -> usize {
        self.shards
            .values()
            .filter(|(_, s)| *s == State::Reading)
            .count()
    }
}

pub async fn run(args: ConsumeArgs) -> Result<(), String> {
    let stream = args.common.stream.clone();
    let stop = crate::shutdown_signal();
    tokio::pin!(stop);
    let deadline = tokio::time::sleep(Duration::from_secs(
        args.duration.unwrap_or(100 * 365 * 86_400),
    ));
    tokio::pin!(deadline);

    let client = connect(&args.common.endpoint).await;
    tokio::select! {
        r = wait_active(&client, &stream) => { r?; }
        _ = &mut stop => return Ok(()),
        _ = &mut deadline => return Err(format!("stream {stream} did not become ACTIVE in time")),
    }

    // Every shard with its parents. From LATEST the closed shards are not read (they
    // have nothing new); their open descendants are.
    let mut lineage = Lineage {
        shards: HashMap::new(),
    };
    let mut token: Option<String> = None;
    loop {
        let request = match &token {
            Some(t) => client.list_shards().next_token(t),
            None => client.list_shards().stream_name(&stream),
        };
        let out = request
            .send()
            .await
            .map_err(|e| format!("ListShards failed: {}", describe(&e)))?;
        for s in out.shards() {
            let parents = [s.parent_shard_id(), s.adjacent_parent_shard_id()]
                .into_iter()
                .flatten()
                .map(str::to_string)
                .collect();
            let closed = s
                .sequence_number_range()
                .is_some_and(|r| r.ending_sequence_number().is_some());
            let state = if args.from == StartAt::Latest && closed {
                State::Done
            } else {
                State::Waiting
            };
            lineage.add(s.shard_id().to_string(), parents, state);
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }

    let (tx, mut rx) = mpsc::channel::<Msg>(64);
    let mut readers = JoinSet::new();
    let mut start = |lineage: &mut Lineage, first: bool| {
        for shard in lineage.startable() {
            // Children are read from their beginning: that is where the parent left off.
            let position = if first && args.from == StartAt::Latest {
                ShardIteratorType::Latest
            } else {
                ShardIteratorType::TrimHorizon
            };
            readers.spawn(read_shard(
                client.clone(),
                stream.clone(),
                shard,
                position,
                tx.clone(),
            ));
        }
    };
    start(&mut lineage, true);
    eprintln!(
        "reading stream {stream} from {} ({} shards)",
        match args.from {
            StartAt::TrimHorizon => "TRIM_HORIZON",
            StartAt::Latest => "LATEST",
        },
        lineage.reading()
    );

    let mut window = Window::new(args.window);
    let mut ticks = tokio::time::interval(Duration::from_secs(args.interval.max(1)));
    ticks.tick().await; // the first tick is immediate
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Records(records)) => {
                    let now = now_secs();
                    for (at, referrer) in records {
                        window.add(at, &referrer, now);
                    }
                }
                Some(Msg::Ended { shard, children }) => {
                    lineage.finish(&shard);
                    for child in &children {
                        lineage.add(
                            child.shard_id().to_string(),
                            child.parent_shards().to_vec(),
                            State::Waiting,
                        );
                    }
                    start(&mut lineage, false);
                    eprintln!(
                        "{shard} ended; children: {}",
                        children.iter().map(|c| c.shard_id()).collect::<Vec<_>>().join(", ")
                    );
                }
                Some(Msg::Failed { shard, error }) => {
                    lineage.finish(&shard);
                    eprintln!("stopped reading {shard}: {error}");
                }
                None => break,
            },
            _ = ticks.tick() => print_table(&stream, &mut window, lineage.reading(), args.top),
            _ = &mut deadline => break,
            _ = &mut stop => break,
        }
    }
    readers.abort_all();
    print_table(&stream, &mut window, lineage.reading(), args.top);
    Ok(())
}

/// Reports that a shard cannot be read; the reader stops after it.
async fn fail(tx: &mpsc::Sender<Msg>, shard: String, error: String) {
    // A closed channel means the consumer is stopping anyway.
    let _ = tx.send(Msg::Failed { shard, error }).await;
}

/// Reads one shard to its end (or forever, while it is open).
async fn read_shard(
    client: Client,
    stream: String,
    shard: String,
    position: ShardIteratorType,
    tx: mpsc::Sender<Msg>,
) {
    let mut last_sequence: Option<String> = None;
    let mut iterator: Option<String> = None;
    loop {
        let it = match iterator.take() {
            Some(it) => it,
            None => {
                // AFTER_SEQUENCE_NUMBER once something was read (an expired iterator),
                // the starting position otherwise.
                let mut request = client
                    .get_shard_iterator()
                    .stream_name(&stream)
                    .shard_id(&shard);
                request = match &last_sequence {
                    Some(seq) => request
                        .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                        .starting_sequence_number(seq),
                    None => request.shard_iterator_type(position.clone()),
                };
                match request.send().await {
                    Ok(out) => match out.shard_iterator() {
                        Some(it) => it.to_string(),
                        None => {
                            fail(&tx, shard, "GetShardIterator returned no iterator".into()).await;
                            return;
                        }
                    },
                    Err(e) => {
                        if code(&e) == Some("ResourceNotFoundException") {
                            fail(&tx, shard, describe(&e)).await;
                            return;
                        }
                        // Throttled, or the server is briefly away.
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            }
        };
        match client
            .get_records()
            .shard_iterator(&it)
            .limit(1000)
            .send()
            .await
        {
            Ok(out) => {
                let records: Vec<(u64, String)> = out
                    .records()
                    .iter()
                    .map(|r| {
                        let at = r
                            .approximate_arrival_timestamp()
                            .map(|t| t.secs().max(0) as u64)
                            .unwrap_or_else(now_secs);
                        (at, referrer_of(r.data().as_ref()))
                    })
                    .collect();
                if let Some(r) = out.records().last() {
                    last_sequence = Some(r.sequence_number().to_string());
                }
                let caught_up = out.millis_behind_latest().unwrap_or(0) == 0;
                let got = records.len();
                if got > 0 && tx.send(Msg::Records(records)).await.is_err() {
                    return;
                }
                match out.next_shard_iterator() {
                    Some(next) => iterator = Some(next.to_string()),
                    None => {
                        let _ = tx
                            .send(Msg::Ended {
                                shard,
                                children: out.child_shards().to_vec(),
                            })
                            .await;
                        return;
                    }
                }
                // GetRecords allows 5 calls per second per shard, shared by all readers.
                let pause = if got == 0 && caught_up { 1000 } else { 250 };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Err(e) => {
                match code(&e) {
                    Some("ExpiredIteratorException") => {} // a new iterator next round
                    Some("ResourceNotFoundException") => {
                        fail(&tx, shard, describe(&e)).await;
                        return;
                    }
                    Some("ProvisionedThroughputExceededException") => {
                        iterator = Some(it);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    _ => {
                        eprintln!("GetRecords on {shard} failed, retrying: {}", describe(&e));
                        iterator = Some(it);
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        }
    }
}

fn print_table(stream: &str, window: &mut Window, reading: usize, top: usize) {
    let now = now_secs();
    let rows = window.rows(now);
    let in_window: u64 = rows.iter().map(|r| r.in_window).sum();
    let heading = format!("LAST {}s", window.width_secs());
    println!();
    println!(
        "stream {stream}: {in_window} records in the last {} s, {} read in all, {reading} shards being read",
        window.width_secs(),
        window.records()
    );
    println!("{:<36} {:>10} {:>10}", "REFERRER", heading, "TOTAL");
    for r in rows.iter().take(top) {
        println!("{:<36} {:>10} {:>10}", r.referrer, r.in_window, r.total);
    }
    if rows.len() > top {
        println!("({} more)", rows.len() - top);
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lineage(shards: &[(&str, &[&str], State)]) -> Lineage {
        let mut l = Lineage {
            shards: HashMap::new(),
        };
        for (id, parents, state) in shards {
            l.add(
                id.to_string(),
                parents.iter().map(|p| p.to_string()).collect(),
                *state,
            );
        }
        l
    }

    fn sorted(mut v: Vec<String>) -> Vec<String> {
        v.sort();
        v
    }

    #[test]
    fn children_wait_for_every_parent() {
        // 0 split into 1 and 2; 1 and 2 merged into 3; 4 had a parent that expired.
        let mut l = lineage(&[
            ("s0", &[], State::Waiting),
            ("s1", &["s0"], State::Waiting),
            ("s2", &["s0"], State::Waiting),
            ("s3", &["s1", "s2"], State::Waiting),
            ("s4", &["gone"], State::Waiting),
        ]);
        assert_eq!(sorted(l.startable()), ["s0", "s4"]);
        assert!(l.startable().is_empty());
        l.finish("s0");
        assert_eq!(sorted(l.startable()), ["s1", "s2"]);
        l.finish("s1");
        assert!(l.startable().is_empty());
        l.finish("s2");
        assert_eq!(l.startable(), ["s3"]);
        assert_eq!(l.reading(), 2); // s3 and s4
    }

    #[test]
    fn from_latest_closed_shards_are_skipped() {
        let mut l = lineage(&[
            ("s0", &[], State::Done),
            ("s1", &["s0"], State::Waiting),
            ("s2", &["s0"], State::Waiting),
        ]);
        assert_eq!(sorted(l.startable()), ["s1", "s2"]);
    }
}
