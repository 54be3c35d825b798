//! Planning a reshard without touching anything: splits and pairwise merges applied to
//! a copy of a stream's shard list, so a plan can be checked (and property-tested)
//! before logs are created and the catalog is written.

use std::collections::BTreeMap;

use crate::storage::catalog::{ReshardStep, ShardClosed, ShardMeta};

/// The most shards a recorded uniform step may ask for: far above any stream's limit,
/// and a bound on what a damaged catalog can make a plan allocate.
const MAX_UNIFORM: u32 = 1_000_000;

/// A stream's shards being reshaped.
pub struct Reshape {
    /// Every shard, old and new, by index.
    shards: BTreeMap<u32, ShardMeta>,
    /// Open shards by starting hash key.
    open: BTreeMap<u128, u32>,
    next_index: u32,
    next_log_id: u64,
    now_ms: i64,
    /// Indexes of shards this plan created.
    created: Vec<u32>,
}

impl Reshape {
    pub fn new(shards: &[ShardMeta], next_index: u32, next_log_id: u64, now_ms: i64) -> Reshape {
        Reshape {
            open: shards
                .iter()
                .filter(|s| s.closed.is_none())
                .map(|s| (s.start_hash, s.index))
                .collect(),
            shards: shards.iter().map(|s| (s.index, s.clone())).collect(),
            next_index,
            next_log_id,
            now_ms,
            created: Vec::new(),
        }
    }

    pub fn open_shards(&self) -> impl Iterator<Item = &ShardMeta> {
        self.open.values().map(|i| &self.shards[i])
    }

    pub fn shard(&self, index: u32) -> Option<&ShardMeta> {
        self.shards.get(&index)
    }

    fn child(&mut self, start: u128, end: u128, parent: u32, adjacent: Option<u32>) -> u32 {
        let index = self.next_index;
        self.next_index += 1;
        let log_id = self.next_log_id;
        self.next_log_id += 1;
        self.shards.insert(
            index,
            ShardMeta {
                index,
                log_id,
                start_hash: start,
                end_hash: end,
                parent: Some(parent),
                adjacent_parent: adjacent,
                created_ms: self.now_ms,
                closed: None,
            },
        );
        self.open.insert(start, index);
        self.created.push(index);
        index
    }

    fn close(&mut self, index: u32) {
        let s = self.shards.get_mut(&index).expect("closing a known shard");
        self.open.remove(&s.start_hash);
        // The real end offset is filled in when the shard's log is sealed.
        s.closed = Some(ShardClosed {
            end_offset: 0,
            closed_ms: self.now_ms,
        });
    }

    /// Splits open shard `index` into [start, at-1] and [at, end]; `start < at <= end`.
    pub fn split(&mut self, index: u32, at: u128) -> (u32, u32) {
        let s = self.shards[&index].clone();
        debug_assert!(s.closed.is_none() && s.start_hash < at && at <= s.end_hash);
        self.close(index);
        let low = self.child(s.start_hash, at - 1, index, None);
        let high = self.child(at, s.end_hash, index, None);
        (low, high)
    }

    /// Merges two adjacent open shards; the child's parent is `a`, its adjacent parent `b`.
    pub fn merge(&mut self, a: u32, b: u32) -> u32 {
        let (sa, sb) = (self.shards[&a].clone(), self.shards[&b].clone());
        debug_assert!(
            sa.end_hash.checked_add(1) == Some(sb.start_hash)
                || sb.end_hash.checked_add(1) == Some(sa.start_hash)
        );
        self.close(a);
        self.close(b);
        let start = sa.start_hash.min(sb.start_hash);
        let end = sa.end_hash.max(sb.end_hash);
        self.child(start, end, a, Some(b))
    }

    /// Reaches `target` equal-width open shards with splits at every new boundary that
    /// falls inside a shard, then pairwise merges of the pieces of each new range, so
    /// every child has at most two parents.
    pub fn uniform(&mut self, target: u32) {
        let ranges = super::routing::even_ranges(target);
        for &(boundary, _) in ranges.iter().skip(1) {
            let (&start, &index) = self
                .open
                .range(..=boundary)
                .next_back()
                .expect("open shards tile the space");
            if start < boundary {
                self.split(index, boundary);
            }
        }
        for &(start, end) in &ranges {
            loop {
                let pieces: Vec<u32> = self
                    .open
                    .range(start..=end)
                    .map(|(_, i)| *i)
                    .take(2)
                    .collect();
                if pieces.len() < 2 {
                    break;
                }
                self.merge(pieces[0], pieces[1]);
            }
        }
    }

    /// Whether the open shards cover the hash key space without gaps or overlaps.
    fn tiles(&self) -> bool {
        let mut next = Some(0u128);
        for s in self.open_shards() {
            if Some(s.start_hash) != next || s.end_hash < s.start_hash {
                return false;
            }
            next = s.end_hash.checked_add(1);
        }
        next.is_none()
    }

    /// Plans one step of a recorded reshard. The call that asked for it checked it
    /// against the same shards; a step that no longer fits (a catalog edited by hand)
    /// is skipped and reported, rather than trusted.
    pub fn step(&mut self, step: ReshardStep) -> bool {
        let open = |r: &Self, i: u32| r.shards.get(&i).filter(|s| s.closed.is_none()).cloned();
        match step {
            ReshardStep::Split { shard, at } => match open(self, shard) {
                Some(s) if s.start_hash < at && at <= s.end_hash => {
                    self.split(shard, at);
                    true
                }
                _ => false,
            },
            ReshardStep::Merge { shard, adjacent } => {
                match (open(self, shard), open(self, adjacent)) {
                    (Some(a), Some(b))
                        if a.end_hash.checked_add(1) == Some(b.start_hash)
                            || b.end_hash.checked_add(1) == Some(a.start_hash) =>
                    {
                        self.merge(shard, adjacent);
                        true
                    }
                    _ => false,
                }
            }
            ReshardStep::Uniform { target }
                if (1..=MAX_UNIFORM).contains(&target) && self.tiles() =>
            {
                self.uniform(target);
                true
            }
            ReshardStep::Uniform { .. } => false,
        }
    }

    /// The plan's result: every shard (old and new) in index order, the indexes it
    /// created, and the counters to continue from.
    pub fn finish(self) -> Planned {
        Planned {
            shards: self.shards.into_values().collect(),
            created: self.created,
            next_index: self.next_index,
            next_log_id: self.next_log_id,
        }
    }
}

pub struct Planned {
    pub shards: Vec<ShardMeta>,
    pub created: Vec<u32>,
    pub next_index: u32,
    pub next_log_id: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::routing::even_ranges;
    use proptest::prelude::*;

    fn stream(n: u32) -> Vec<ShardMeta> {
        even_ranges(n)
            .into_iter()
            .enumerate()
            .map(|(i, (start, end))| ShardMeta {
                index: i as u32,
                log_id: i as u64 + 1,
                start_hash: start,
                end_hash: end,
                parent: None,
                adjacent_parent: None,
                created_ms: 0,
                closed: None,
            })
            .collect()
    }

    fn assert_tiles(r: &Reshape) {
        let open: Vec<&ShardMeta> = r.open_shards().collect();
        assert_eq!(open[0].start_hash, 0);
        assert_eq!(open.last().unwrap().end_hash, u128::MAX);
        for w in open.windows(2) {
            assert!(w[0].start_hash <= w[0].end_hash);
            assert_eq!(w[0].end_hash + 1, w[1].start_hash);
        }
    }

    #[test]
    fn recorded_steps_that_no_longer_fit_are_skipped() {
        let mut r = Reshape::new(&stream(2), 2, 100, 1);
        let mid = stream(2)[0].end_hash;
        assert!(
            !r.step(ReshardStep::Split { shard: 9, at: 5 }),
            "unknown shard"
        );
        assert!(
            !r.step(ReshardStep::Split {
                shard: 0,
                at: mid + 1
            }),
            "outside the shard"
        );
        assert!(!r.step(ReshardStep::Uniform { target: 0 }));
        assert!(!r.step(ReshardStep::Uniform { target: u32::MAX }));
        assert!(r.step(ReshardStep::Split { shard: 0, at: 5 }));
        assert!(
            !r.step(ReshardStep::Split { shard: 0, at: 7 }),
            "a closed shard"
        );
        assert!(
            !r.step(ReshardStep::Merge {
                shard: 2,
                adjacent: 1
            }),
            "not adjacent"
        );
        assert!(r.step(ReshardStep::Merge {
            shard: 3,
            adjacent: 1
        }));
        assert!(r.step(ReshardStep::Uniform { target: 3 }));
        // Open shards that do not tile the space (a hand-edited catalog) are not planned on.
        let mut gap = stream(2);
        gap[1].start_hash += 1;
        let mut r = Reshape::new(&gap, 2, 100, 1);
        assert!(!r.step(ReshardStep::Uniform { target: 3 }));
    }

    #[test]
    fn uniform_scaling_ends_equal_width_with_at_most_two_parents() {
        for (from, to) in [(4, 3), (3, 4), (1, 2), (2, 1), (5, 10), (10, 5), (7, 13)] {
            let mut r = Reshape::new(&stream(from), from, 100, 1);
            r.uniform(to);
            assert_tiles(&r);
            let open: Vec<(u128, u128)> = r
                .open_shards()
                .map(|s| (s.start_hash, s.end_hash))
                .collect();
            assert_eq!(open, even_ranges(to), "{from} -> {to}");
            let planned = r.finish();
            let indexes: Vec<u32> = planned.shards.iter().map(|s| s.index).collect();
            assert!(indexes.windows(2).all(|w| w[0] < w[1]));
            for s in &planned.shards {
                if planned.created.contains(&s.index) {
                    assert!(s.parent.is_some());
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Split(usize, u128),
        Merge(usize),
        Scale(u32),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        prop::collection::vec(
            prop_oneof![
                (any::<usize>(), any::<u128>()).prop_map(|(i, k)| Op::Split(i, k)),
                any::<usize>().prop_map(Op::Merge),
                (1u32..40).prop_map(Op::Scale),
            ],
            1..25,
        )
    }

    proptest! {
        #[test]
        fn open_shards_always_tile_the_space(initial in 1u32..20, ops in ops()) {
            let mut r = Reshape::new(&stream(initial), initial, 100, 1);
            for op in ops {
                let open: Vec<ShardMeta> = r.open_shards().cloned().collect();
                match op {
                    Op::Split(i, k) => {
                        let s = &open[i % open.len()];
                        if s.end_hash - s.start_hash >= 2 {
                            let at = s.start_hash + 1 + k % (s.end_hash - s.start_hash);
                            r.split(s.index, at);
                        }
                    }
                    Op::Merge(i) if open.len() > 1 => {
                        let i = i % (open.len() - 1);
                        r.merge(open[i + 1].index, open[i].index);
                    }
                    Op::Merge(_) => {}
                    Op::Scale(n) => {
                        let cur = open.len() as u32;
                        r.uniform(n.clamp(cur.div_ceil(2), cur * 2));
                    }
                }
                assert_tiles(&r);
                let holders = r.open_shards().filter(|s| s.start_hash <= 12345 && 12345 <= s.end_hash).count();
                prop_assert_eq!(holders, 1);
            }
        }
    }
}
