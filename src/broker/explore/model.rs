//! What the broker workload did to each stream, as its callers saw it, and the checks
//! a broker recovered from a crash must pass: streams created stay, deleted streams
//! stay gone, reshards are whole or absent, closed shards keep their ending sequence
//! numbers, acknowledged records read back at their sequence numbers, and no sequence
//! number ever names a second record.

use std::collections::BTreeMap;

/// One shard as DescribeStream shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ShardShape {
    pub id: String,
    pub start: u128,
    pub end: u128,
    pub ending_seq: Option<u128>,
}

/// One record a put placed.
#[derive(Debug, Clone)]
pub(super) struct Rec {
    pub data: Vec<u8>,
    /// The broker's clock when it was put: its arrival time is at least this.
    pub put_ms: i64,
    /// When it was known durable (acknowledged in `sync`, or after a clean stop).
    pub durable_at: Option<u64>,
    /// Not there after a recovery: gone for good.
    pub lost: bool,
}

#[derive(Debug, Clone, Default)]
pub(super) struct StreamModel {
    /// CreateStream returned at this op count.
    pub created_at: Option<u64>,
    pub delete_started: bool,
    pub deleted_at: Option<u64>,
    /// The shard list after each control-plane change that returned, with its op count.
    pub shapes: Vec<(u64, Vec<ShardShape>)>,
    /// A reshard began and has not returned (the power went during it).
    pub reshaping: bool,
    /// Records by (shard id, sequence number).
    pub records: BTreeMap<(String, u128), Rec>,
    /// Data of puts that failed when the power went: they may be there, unseen.
    pub maybe: Vec<Vec<u8>>,
}

/// Everything the workload did.
#[derive(Debug, Clone, Default)]
pub(super) struct Model {
    pub streams: BTreeMap<String, StreamModel>,
    /// The broker's clock, carried from run to run.
    pub now_ms: i64,
    /// Records put before this may have passed retention.
    pub expired_before: i64,
    /// A retention pass ran while closed shards existed: they may be gone.
    pub closed_may_go: bool,
    /// How many puts so far, to make every record's data unique.
    pub counter: u64,
}

/// What a recovered broker shows of one stream.
pub(super) struct Seen {
    pub shapes: Vec<ShardShape>,
    /// Every readable record, by (shard id, sequence number).
    pub records: BTreeMap<(String, u128), Vec<u8>>,
}

impl Model {
    /// Checks what a recovered broker shows against the model as of op `cut`.
    pub fn check(&self, seen: &BTreeMap<String, Seen>, cut: u64, sync: bool) -> Result<(), String> {
        for (name, s) in &self.streams {
            let created = s.created_at.is_some_and(|c| c <= cut) && !s.delete_started;
            match seen.get(name) {
                None if created => {
                    return Err(format!(
                        "stream {name} was created before the cut and is gone"
                    ))
                }
                None => {}
                Some(_) if s.deleted_at.is_some_and(|d| d <= cut) => {
                    return Err(format!(
                        "stream {name} was deleted before the cut and is back"
                    ))
                }
                Some(got) => {
                    self.check_shape(name, s, &got.shapes, cut)?;
                    self.check_records(name, s, &got.records, cut, sync)?;
                }
            }
        }
        if let Some(name) = seen.keys().find(|n| !self.streams.contains_key(*n)) {
            return Err(format!("stream {name} was never created"));
        }
        Ok(())
    }

    fn check_shape(
        &self,
        name: &str,
        s: &StreamModel,
        got: &[ShardShape],
        cut: u64,
    ) -> Result<(), String> {
        let open: Vec<&ShardShape> = {
            let mut v: Vec<&ShardShape> = got.iter().filter(|g| g.ending_seq.is_none()).collect();
            v.sort_by_key(|g| g.start);
            v
        };
        let tiles = open.first().is_some_and(|f| f.start == 0)
            && open.last().is_some_and(|l| l.end == u128::MAX)
            && open
                .windows(2)
                .all(|w| w[0].end.checked_add(1) == Some(w[1].start));
        if !tiles {
            return Err(format!(
                "stream {name}: open shards do not tile the hash-key space: {got:?}"
            ));
        }
        // The last change that returned before the cut, and the one after it (which
        // may or may not have landed).
        let before = s
            .shapes
            .iter()
            .rev()
            .find(|(at, _)| *at <= cut)
            .map(|(_, sh)| sh);
        let after = s.shapes.iter().find(|(at, _)| *at > cut).map(|(_, sh)| sh);
        let Some(want) = before else {
            return Ok(());
        };
        if after.is_some_and(|a| same_shape(a, got, self.closed_may_go)) {
            return Ok(());
        }
        let in_flight = after.is_some() || s.reshaping;
        for w in want {
            let Some(g) = got.iter().find(|g| g.id == w.id) else {
                // Retention removes closed shards, and a reshard in flight may have
                // closed this one.
                if (w.ending_seq.is_some() || in_flight) && self.closed_may_go {
                    continue;
                }
                return Err(format!(
                    "stream {name}: shard {} is gone: {got:?}, expected {want:?}",
                    w.id
                ));
            };
            if (g.start, g.end) != (w.start, w.end) {
                return Err(format!(
                    "stream {name}: shard {} changed its hash range",
                    w.id
                ));
            }
            if w.ending_seq.is_some() && g.ending_seq != w.ending_seq {
                return Err(format!(
                    "stream {name}: closed shard {} ends at {:?}, not {:?}",
                    w.id, g.ending_seq, w.ending_seq
                ));
            }
            if w.ending_seq.is_none() && g.ending_seq.is_some() && !in_flight {
                return Err(format!(
                    "stream {name}: shard {} closed by no reshard",
                    w.id
                ));
            }
        }
        if !in_flight && !same_shape(want, got, self.closed_may_go) {
            return Err(format!("stream {name}: shards {got:?}, expected {want:?}"));
        }
        Ok(())
    }

    fn check_records(
        &self,
        name: &str,
        s: &StreamModel,
        got: &BTreeMap<(String, u128), Vec<u8>>,
        cut: u64,
        sync: bool,
    ) -> Result<(), String> {
        for ((shard, seq), data) in got {
            match s.records.get(&(shard.clone(), *seq)) {
                Some(r) if r.data == *data => {}
                Some(_) => {
                    return Err(format!("stream {name}: {shard} {seq} holds another record"))
                }
                None if s.maybe.contains(data) => {}
                None => return Err(format!("stream {name}: {shard} {seq} was never handed out")),
            }
        }
        if !sync {
            return Ok(());
        }
        for ((shard, seq), r) in &s.records {
            let promised = !r.lost
                && r.durable_at.is_some_and(|d| d <= cut)
                && r.put_ms >= self.expired_before;
            if promised && !got.contains_key(&(shard.clone(), *seq)) {
                return Err(format!(
                    "stream {name}: {shard} {seq}, durable since op {}, is lost",
                    r.durable_at.unwrap_or_default()
                ));
            }
        }
        Ok(())
    }

    /// After a recovery that passed the checks: what is there is durable, the rest is
    /// gone for good; the shapes seen are the ones to expect from now on.
    pub fn settle(&mut self, seen: &BTreeMap<String, Seen>) {
        for (name, s) in self.streams.iter_mut() {
            let Some(got) = seen.get(name) else {
                s.records.values_mut().for_each(|r| r.lost = true);
                s.shapes.clear();
                s.reshaping = false;
                if s.delete_started {
                    s.deleted_at = Some(0);
                } else {
                    // Its creation did not land.
                    s.created_at = None;
                }
                continue;
            };
            for ((shard, seq), data) in &got.records {
                s.records
                    .entry((shard.clone(), *seq))
                    .or_insert_with(|| Rec {
                        data: data.clone(),
                        put_ms: i64::MIN,
                        durable_at: None,
                        lost: false,
                    });
            }
            s.maybe.clear();
            for (key, r) in s.records.iter_mut() {
                if got.records.contains_key(key) {
                    r.durable_at = Some(0);
                } else {
                    r.lost = true;
                }
            }
            s.shapes = vec![(0, got.shapes.clone())];
            s.reshaping = false;
            s.created_at = Some(0);
            if s.delete_started && s.deleted_at.is_none() {
                // The deletion did not land before the crash.
                s.delete_started = false;
            }
        }
    }

    /// The highest sequence number handed out in each shard of `stream`.
    pub fn highest(&self, stream: &str) -> BTreeMap<String, u128> {
        let mut out = BTreeMap::new();
        if let Some(s) = self.streams.get(stream) {
            for (shard, seq) in s.records.keys() {
                let e = out.entry(shard.clone()).or_insert(0);
                *e = (*e).max(*seq);
            }
        }
        out
    }
}

/// The same shards, ranges and ends (closed shards may be missing when retention may
/// have removed them).
fn same_shape(want: &[ShardShape], got: &[ShardShape], closed_may_go: bool) -> bool {
    let keep = |s: &&ShardShape| !(closed_may_go && s.ending_seq.is_some());
    let a: Vec<&ShardShape> = want.iter().filter(keep).collect();
    let b: Vec<&ShardShape> = got.iter().filter(keep).collect();
    a == b && got.iter().all(|g| want.iter().any(|w| w == g))
}
