//! HyperLogLog (`operators/aggregations/hll.py`) and the sliding HyperLogLog staircases
//! (`operators/windows/sliding_hll.py`): the same hash, ranks, estimate and bytes.

use crate::codec::{Decoded, FormatError, Reader, Writer};
use crate::feature::NEG_INF;
use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use std::collections::VecDeque;

const HARMONIC_UNIT_SHIFT: u32 = 61;
const VERSION: u8 = 16;

#[inline]
fn weight(rank: u8) -> u128 {
    1u128 << (HARMONIC_UNIT_SHIFT - rank as u32)
}

/// `ApproxCountDistinct(precision)`.
#[derive(Clone, Debug)]
pub struct Hll {
    pub precision: u8,
    m: u32,
    shift: u32,
    alpha: f64,
}

impl Hll {
    pub fn new(precision: u8) -> Option<Self> {
        if !(4..=16).contains(&precision) {
            return None;
        }
        let m = 1u32 << precision;
        let alpha = match m {
            16 => 0.673,
            32 => 0.697,
            64 => 0.709,
            _ => 0.7213 / (1.0 + 1.079 / m as f64),
        };
        Some(Hll {
            precision,
            m,
            shift: 64 - precision as u32,
            alpha,
        })
    }

    /// `hash64` of a string: BLAKE2b-64 of `b"s" + utf-8`, big-endian.
    pub fn hash(text: &str) -> u64 {
        let mut hasher = Blake2bVar::new(8).expect("8 is a valid BLAKE2b output size");
        hasher.update(b"s");
        hasher.update(text.as_bytes());
        let mut out = [0u8; 8];
        hasher.finalize_variable(&mut out).expect("8-byte buffer");
        u64::from_be_bytes(out)
    }

    /// `register_and_rank(value)` of a value whose `hash64` is `h`.
    pub fn register_and_rank(&self, h: u64) -> (u16, u8) {
        let mask = (1u64 << self.shift) - 1;
        let bits = 64 - (h & mask).leading_zeros();
        ((h >> self.shift) as u16, (self.shift - bits + 1) as u8)
    }

    /// `value(registers)`: 0 when empty, else the estimate.
    pub fn value(&self, registers: &[(u16, u8)]) -> i64 {
        if registers.is_empty() {
            return 0;
        }
        let nonempty = registers.len() as u32;
        let units = (self.m - nonempty) as u128 * weight(0)
            + registers.iter().map(|r| weight(r.1)).sum::<u128>();
        self.estimate(nonempty, units)
    }

    /// `estimate(nonempty, units)`, with Python's float steps in Python's order.
    pub fn estimate(&self, nonempty: u32, units: u128) -> i64 {
        let m = self.m as f64;
        let empty = self.m - nonempty;
        // int / int in Python is the correctly rounded quotient; dividing by a power of
        // two, that is the rounded numerator scaled (exact).
        let harmonic = (units as f64) / (1u128 << HARMONIC_UNIT_SHIFT) as f64;
        let mut estimate = self.alpha * m * m / harmonic;
        if estimate <= 2.5 * m && empty > 0 {
            estimate = m * (m / empty as f64).ln();
        }
        estimate.round_ties_even() as i64
    }
}

/// A register's staircase: `(event_time, rank)` pairs, times increasing, ranks decreasing.
/// Most registers of most entities hold a single pair: it is kept in place, without an
/// allocation of its own (an allocation, a free and a cache miss per register otherwise).
enum Stair {
    One((i64, u8)),
    Many(Vec<(i64, u8)>),
}

impl Stair {
    fn from_vec(pairs: Vec<(i64, u8)>) -> Self {
        if pairs.len() == 1 {
            Stair::One(pairs[0])
        } else {
            Stair::Many(pairs)
        }
    }

    /// `splice(k..end, [pair])`: replace the pairs `k..end` with `pair`.
    fn replace(&mut self, k: usize, end: usize, pair: (i64, u8)) {
        match self {
            Stair::One(only) => match (k, end) {
                (0, 1) => *only = pair,
                (0, 0) => *self = Stair::Many(vec![pair, *only]),
                (1, 1) => *self = Stair::Many(vec![*only, pair]),
                _ => unreachable!("range {k}..{end} of a one-pair staircase"),
            },
            Stair::Many(pairs) => {
                pairs.splice(k..end, [pair]);
                if pairs.len() == 1 {
                    *self = Stair::One(pairs[0]);
                }
            }
        }
    }

    /// `drain(..k)`, leaving at least one pair.
    fn drop_front(&mut self, k: usize) {
        if let Stair::Many(pairs) = self {
            pairs.drain(..k);
            if pairs.len() == 1 {
                *self = Stair::One(pairs[0]);
            }
        }
    }
}

impl std::ops::Deref for Stair {
    type Target = [(i64, u8)];

    #[inline]
    fn deref(&self) -> &[(i64, u8)] {
        match self {
            Stair::One(pair) => std::slice::from_ref(pair),
            Stair::Many(pairs) => pairs,
        }
    }
}

/// A sorted run of registers: the indices in one vector (a binary search reads a few cache
/// lines of 2-byte keys) and their staircases in that order in another, so the encoding
/// walks both in order. A direct index (register -> position, 4 bytes per register) in no
/// order, which the dense states had until stop 32, made the encoding a random walk over
/// the staircases: reading them in index order was ~40 % of publishing a 30-day distinct
/// count late in a live run (`benchmarks/results/hll_layout_s32/`).
struct Run {
    indices: Vec<u16>,
    stairs: Vec<Stair>,
}

impl Run {
    fn new() -> Self {
        Run {
            indices: Vec::new(),
            stairs: Vec::new(),
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.indices.len()
    }

    #[inline]
    fn position(&self, index: u16) -> Result<usize, usize> {
        self.indices.binary_search(&index)
    }

    /// Add register `index` (absent) in its place.
    fn insert_absent(&mut self, index: u16, stair: Stair) {
        let Err(p) = self.position(index) else {
            unreachable!("register {index} is already present")
        };
        self.indices.insert(p, index);
        self.stairs.insert(p, stair);
    }

    /// Remove register `index`; whether it was there.
    fn remove(&mut self, index: u16) -> bool {
        let Ok(p) = self.position(index) else {
            return false;
        };
        self.indices.remove(p);
        self.stairs.remove(p);
        true
    }

    /// Split off the upper half, leaving the lower half here.
    fn split_upper(&mut self) -> Run {
        let half = self.len() / 2;
        Run {
            indices: self.indices.split_off(half),
            stairs: self.stairs.split_off(half),
        }
    }
}

/// Runs of at most this many registers: an insert or a removal shifts one run's tail (at most
/// ~1.6 KiB of indices and staircases), not the whole state's, which in a sketch of thousands
/// of registers was most of an insert (`memmove` inside `strategy_insert`, stop 45).
const RUN_MAX: usize = 64;

/// The non-empty registers' staircases in index order: one run while the state is small
/// (most are: no allocation beyond the two vectors), runs of at most [`RUN_MAX`] registers
/// over consecutive index ranges once it holds more than that.
enum Registers {
    One(Run),
    /// `starts[i]`: the lowest index run `i` covers (`starts[0]` is 0); run `i` holds the
    /// registers in `starts[i]..starts[i + 1]`. `len`: the registers over all runs.
    Runs {
        starts: Vec<u16>,
        runs: Vec<Run>,
        len: usize,
    },
}

impl Registers {
    fn new() -> Self {
        Registers::One(Run::new())
    }

    #[inline]
    fn len(&self) -> usize {
        match self {
            Registers::One(run) => run.len(),
            Registers::Runs { len, .. } => *len,
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The runs in index order.
    #[inline]
    fn runs(&self) -> &[Run] {
        match self {
            Registers::One(run) => std::slice::from_ref(run),
            Registers::Runs { runs, .. } => runs,
        }
    }

    /// The run that holds or would hold register `index`.
    #[inline]
    fn run_of(starts: &[u16], index: u16) -> usize {
        starts.partition_point(|s| *s <= index) - 1
    }

    #[inline]
    fn get(&self, index: u16) -> Option<&Stair> {
        let run = match self {
            Registers::One(run) => run,
            Registers::Runs { starts, runs, .. } => &runs[Self::run_of(starts, index)],
        };
        run.position(index).ok().map(|p| &run.stairs[p])
    }

    #[inline]
    fn get_mut(&mut self, index: u16) -> Option<&mut Stair> {
        let run = match self {
            Registers::One(run) => run,
            Registers::Runs { starts, runs, .. } => &mut runs[Self::run_of(starts, index)],
        };
        match run.position(index) {
            Ok(p) => Some(&mut run.stairs[p]),
            Err(_) => None,
        }
    }

    /// Add register `index` (absent).
    fn insert(&mut self, index: u16, stair: Stair) {
        match self {
            Registers::One(run) => {
                run.insert_absent(index, stair);
                if run.len() > RUN_MAX {
                    let upper = run.split_upper();
                    let lower = std::mem::replace(run, Run::new());
                    *self = Registers::Runs {
                        starts: vec![0, upper.indices[0]],
                        len: lower.len() + upper.len(),
                        runs: vec![lower, upper],
                    };
                }
            }
            Registers::Runs { starts, runs, len } => {
                let r = Self::run_of(starts, index);
                let run = &mut runs[r];
                run.insert_absent(index, stair);
                *len += 1;
                if run.len() > RUN_MAX {
                    let upper = run.split_upper();
                    starts.insert(r + 1, upper.indices[0]);
                    runs.insert(r + 1, upper);
                }
            }
        }
    }

    fn remove(&mut self, index: u16) {
        match self {
            Registers::One(run) => {
                run.remove(index);
            }
            Registers::Runs { starts, runs, len } => {
                let r = Self::run_of(starts, index);
                if !runs[r].remove(index) {
                    return;
                }
                *len -= 1;
                if runs[r].len() == 0 {
                    // an empty run's range goes to its neighbour below (or above, for the first)
                    runs.remove(r);
                    starts.remove(r);
                    if r == 0 {
                        starts[0] = 0;
                    }
                }
                if runs.len() == 1 || *len <= RUN_MAX / 4 {
                    // few registers left (a quiet entity's window emptying): one run again
                    let mut one = Run::new();
                    for run in runs.drain(..) {
                        one.indices.extend(run.indices);
                        one.stairs.extend(run.stairs);
                    }
                    *self = Registers::One(one);
                }
            }
        }
    }

    /// The staircases in index order.
    fn values(&self) -> impl Iterator<Item = &Stair> {
        self.runs().iter().flat_map(|run| run.stairs.iter())
    }

    /// The register indices in order.
    fn indices(&self) -> impl Iterator<Item = u16> + '_ {
        self.runs()
            .iter()
            .flat_map(|run| run.indices.iter().copied())
    }

    /// `(index, staircase)` by register index.
    fn sorted(&self) -> impl Iterator<Item = (u16, &[(i64, u8)])> {
        self.runs().iter().flat_map(|run| {
            run.indices
                .iter()
                .copied()
                .zip(run.stairs.iter().map(|s| &**s))
        })
    }

    /// From staircases in index order (`from_bytes`): runs of half [`RUN_MAX`] when many.
    fn from_sorted(indices: Vec<u16>, stairs: Vec<Stair>) -> Self {
        if indices.len() <= RUN_MAX {
            return Registers::One(Run { indices, stairs });
        }
        let len = indices.len();
        let size = RUN_MAX / 2;
        let mut runs = Vec::with_capacity(len.div_ceil(size));
        let mut starts = Vec::with_capacity(len.div_ceil(size));
        let mut indices = indices.into_iter();
        let mut stairs = stairs.into_iter();
        loop {
            let run_indices: Vec<u16> = indices.by_ref().take(size).collect();
            let Some(&first) = run_indices.first() else {
                break;
            };
            starts.push(if runs.is_empty() { 0 } else { first });
            runs.push(Run {
                indices: run_indices,
                stairs: stairs.by_ref().take(size).collect(),
            });
        }
        Registers::Runs { starts, runs, len }
    }
}

/// The staircases' head keys `(time, register)`, oldest first, stale keys of former heads
/// included: a min-queue kept sorted. Nearly every key arrives at the newest time (a new
/// head is a new event), so a push is an append and a pop takes the front: one cache line
/// where a binary heap's pop walked a path of lines through the whole heap (measured at
/// stop 23: that walk was the largest single cost of a sliding HyperLogLog).
struct Heads(VecDeque<(i64, u16)>);

impl Heads {
    fn new() -> Self {
        Heads(VecDeque::new())
    }

    fn from_unsorted(mut keys: Vec<(i64, u16)>) -> Self {
        keys.sort_unstable();
        Heads(keys.into())
    }

    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn peek(&self) -> Option<&(i64, u16)> {
        self.0.front()
    }

    #[inline]
    fn pop(&mut self) {
        self.0.pop_front();
    }

    #[inline]
    fn push(&mut self, key: (i64, u16)) {
        if self.0.back().is_none_or(|last| *last <= key) {
            self.0.push_back(key);
            return;
        }
        // an older key (a late event's, or a head left after an eviction): by the back
        let mut at = self.0.len() - 1;
        while at > 0 && self.0[at - 1] > key {
            at -= 1;
            if self.0.len() - at > 8 {
                at = self.0.partition_point(|k| *k <= key);
                break;
            }
        }
        self.0.insert(at, key);
    }
}

/// One entity's staircases: per register, `(event_time, rank)` pairs with times strictly
/// increasing and ranks strictly decreasing; a min-queue of head keys (with stale keys of
/// former heads, as the Python state's heap holds them: `next_change` reads its top).
pub struct HllState {
    stairs: Registers,
    heads: Heads,
    pub newest: i64,
    /// Harmonic sum of the head ranks over the non-empty registers (empty ones excluded:
    /// `Registers.units` minus their weight), kept up to date as Python keeps `units`.
    head_units: u128,
}

impl HllState {
    pub fn new() -> Self {
        HllState {
            stairs: Registers::new(),
            heads: Heads::new(),
            newest: NEG_INF,
            head_units: 0,
        }
    }

    /// Prefetch the queue's front and the register indices a lookup searches (prefetching
    /// only the lines around where the register sits in a large state made no difference:
    /// `benchmarks/results/hll_layout_s32/ab_prefetch_around.log`).
    #[inline]
    pub fn prefetch_data(&self) {
        if let Some(top) = self.heads.peek() {
            crate::feature::prefetch(top);
        }
        match &self.stairs {
            Registers::One(run) => crate::feature::prefetch_slice(&run.indices, usize::MAX),
            Registers::Runs { starts, .. } => crate::feature::prefetch_slice(starts, usize::MAX),
        }
    }

    /// Prefetch register `hash`'s staircase (its index cached by `prefetch_data`), or in a
    /// state of several runs the run's indices.
    #[inline]
    pub fn prefetch_deep(&self, hll: &Hll, hash: u64) {
        let (index, _) = hll.register_and_rank(hash);
        match &self.stairs {
            Registers::One(_) => match self.stairs.get(index) {
                Some(Stair::One(pair)) => crate::feature::prefetch(pair),
                Some(Stair::Many(pairs)) => crate::feature::prefetch(pairs.as_ptr()),
                None => {}
            },
            // the run's indices (searched next) rather than the staircase
            Registers::Runs { starts, runs, .. } => {
                let run = &runs[Registers::run_of(starts, index)];
                crate::feature::prefetch_slice(&run.indices, usize::MAX);
            }
        }
    }

    #[inline]
    fn top(&self) -> Option<(i64, u16)> {
        self.heads.peek().copied()
    }

    /// `SlidingHllStrategy.insert`.
    pub fn insert(&mut self, hll: &Hll, event_time: i64, hash: u64, bound: i64) {
        if self.top().is_some_and(|(t, _)| t <= bound) {
            self.evict(bound);
        }
        if event_time <= bound {
            return; // no read can cover it
        }
        if event_time > self.newest {
            self.newest = event_time;
        }
        let (index, rank) = hll.register_and_rank(hash);
        let Some(stair) = self.stairs.get_mut(index) else {
            self.stairs.insert(index, Stair::One((event_time, rank)));
            self.head_units += weight(rank);
            self.heads.push((event_time, index));
            return;
        };
        // i: the first pair at or after event_time (len when none)
        let mut i = stair.len();
        while i > 0 && stair[i - 1].0 >= event_time {
            i -= 1;
        }
        let mut end = i;
        if i < stair.len() {
            if stair[i].1 >= rank {
                return; // dominated by a pair at least as late with at least this rank
            }
            if stair[i].0 == event_time {
                end = i + 1; // same time, lower rank: dominated by the new pair
            }
        }
        // k: the first pair before i that the new one does not dominate, plus one
        let mut k = i;
        while k > 0 && stair[k - 1].1 <= rank {
            k -= 1;
        }
        let (old_head_time, old_rank) = stair[0];
        stair.replace(k, end, (event_time, rank));
        if k == 0 {
            self.head_units = self.head_units - weight(old_rank) + weight(rank);
        }
        if k == 0 && event_time != old_head_time {
            self.heads.push((event_time, index));
            if self.heads.len() > 2 * self.stairs.len() + 16 {
                // mostly former heads: rebuild
                self.heads = Heads::from_unsorted(
                    self.stairs.sorted().map(|(j, s)| (s[0].0, j)).collect(),
                );
            }
        }
    }

    /// `SlidingHllStrategy.evict`: drop pairs with `event_time <= bound`.
    fn evict(&mut self, bound: i64) {
        while let Some((t, index)) = self.top() {
            if t > bound {
                break;
            }
            self.heads.pop();
            let Some(stair) = self.stairs.get_mut(index) else {
                continue;
            };
            if stair[0].0 != t {
                continue; // a former head
            }
            let mut k = 1;
            while k < stair.len() && stair[k].0 <= bound {
                k += 1;
            }
            let old_rank = stair[0].1;
            if k == stair.len() {
                self.stairs.remove(index);
                self.head_units -= weight(old_rank);
            } else {
                stair.drop_front(k);
                self.head_units = self.head_units - weight(old_rank) + weight(stair[0].1);
                self.heads.push((stair[0].0, index));
            }
        }
    }

    /// The registers whose current head is at or before `lo`, each once, with their
    /// staircases: the only ones whose pair over `(lo, +inf)` is not their head. They are at
    /// the front of the queue (its keys sorted; a stale key is a former head, and a head
    /// listed twice is listed in adjacent keys).
    fn heads_at_or_before(&self, lo: i64) -> impl Iterator<Item = &Stair> + '_ {
        let mut previous = None;
        self.heads.0.iter().take_while(move |key| key.0 <= lo).filter_map(move |&key| {
            if previous.replace(key) == Some(key) {
                return None;
            }
            self.stairs.get(key.1).filter(|stair| stair[0].0 == key.0)
        })
    }

    /// The estimate over `(lo, +inf)` (`SlidingHllStrategy.read_value`), without building
    /// the registers: from the head ranks' harmonic sum, corrected for the registers whose
    /// head is at or before `lo` — none when the queue's top is after it, some when a read
    /// comes long after the newest event, as for a quiet entity on a feature server (the
    /// rest of a large state is not read).
    /// Equal to `hll.value(&self.registers_after(lo))`.
    pub fn value_after(&self, hll: &Hll, lo: i64) -> i64 {
        if lo >= self.newest || self.stairs.is_empty() {
            return 0;
        }
        let mut nonempty = self.stairs.len() as u32;
        let mut units = self.head_units;
        for stair in self.heads_at_or_before(lo) {
            let head = weight(stair[0].1);
            match stair.iter().find(|p| p.0 > lo) {
                Some(p) => units = units - head + weight(p.1),
                None => {
                    nonempty -= 1;
                    units -= head;
                }
            }
        }
        if nonempty == 0 {
            return 0;
        }
        hll.estimate(nonempty, (hll.m - nonempty) as u128 * weight(0) + units)
    }

    /// The registers over `(lo, +inf)`.
    pub fn registers_after(&self, lo: i64) -> Vec<(u16, u8)> {
        if lo >= self.newest {
            return Vec::new();
        }
        self.stairs
            .sorted()
            .filter_map(|(index, stair)| stair.iter().find(|p| p.0 > lo).map(|p| (index, p.1)))
            .collect()
    }

    /// `SlidingHllStrategy.oldest_after`: the oldest pair after `lo` — the oldest current
    /// head after it (the first current key of the queue after `lo`) or the first pair
    /// after `lo` of a register whose head is at or before it, whichever is older.
    pub fn oldest_after(&self, lo: i64) -> Option<i64> {
        if lo >= self.newest {
            return None;
        }
        if let Some((t, _)) = self.top() {
            if t > lo {
                return Some(t);
            }
        }
        let mut oldest = self
            .heads
            .0
            .iter()
            .skip_while(|key| key.0 <= lo)
            .find(|key| self.stairs.get(key.1).is_some_and(|stair| stair[0].0 == key.0))
            .map(|key| key.0);
        for stair in self.heads_at_or_before(lo) {
            if let Some(p) = stair.iter().find(|p| p.0 > lo) {
                if oldest.is_none_or(|o| p.0 < o) {
                    oldest = Some(p.0);
                }
            }
        }
        oldest
    }

    /// `SlidingHllStrategy.to_bytes`: version, precision, newest, register count; u16
    /// indices, u8 pair counts, int64 pair times, u8 ranks — registers by index.
    pub fn to_bytes(&self, hll: &Hll, w: &mut Writer) {
        w.u8(VERSION);
        w.u8(hll.precision);
        w.i64(self.newest);
        w.u32(self.stairs.len() as u32);
        let registers = &self.stairs;
        let n = registers.len();
        let points: usize = registers.values().map(|s| s.len()).sum();
        // The four sections (indices, pair counts, times, ranks) filled in one walk over the
        // staircases: a large state's staircases live in allocations of their own, so each
        // walk costs a cache miss per register.
        let start = w.buf.len();
        w.buf.resize(start + 3 * n + 9 * points, 0);
        let (indices, rest) = w.buf[start..].split_at_mut(2 * n);
        let (counts, rest) = rest.split_at_mut(n);
        let (times, ranks) = rest.split_at_mut(8 * points);
        for (index, slot) in registers.indices().zip(indices.chunks_exact_mut(2)) {
            slot.copy_from_slice(&index.to_be_bytes());
        }
        let mut at = 0;
        for (stair, count) in registers.values().zip(counts.iter_mut()) {
            *count = stair.len() as u8;
            for p in stair.iter() {
                times[8 * at..8 * at + 8].copy_from_slice(&p.0.to_be_bytes());
                ranks[at] = p.1;
                at += 1;
            }
        }
    }

    /// `SlidingHllStrategy.from_bytes` (this layout; the event-log layout of older states
    /// is read by the Python operators only).
    pub fn from_bytes(hll: &Hll, data: &[u8]) -> Decoded<Self> {
        let mut r = Reader::new(data, "sliding HyperLogLog");
        r.version(VERSION)?;
        if r.u8()? != hll.precision {
            return Err(FormatError(
                "sliding HyperLogLog state written with another precision".into(),
            ));
        }
        let newest = r.i64()?;
        let n = r.u32()? as usize;
        if r.remaining() < 3 * n {
            return Err(FormatError(format!(
                "sliding HyperLogLog: truncated state: {n} registers"
            )));
        }
        let mut order = Vec::with_capacity(n);
        for _ in 0..n {
            let hi = r.u8()? as u16;
            order.push(hi << 8 | r.u8()? as u16);
        }
        let mut counts = Vec::with_capacity(n);
        for _ in 0..n {
            counts.push(r.u8()? as usize);
        }
        let pairs: usize = counts.iter().sum();
        if r.remaining() != 9 * pairs {
            return Err(FormatError(format!(
                "sliding HyperLogLog: {} bytes for {pairs} pairs",
                r.remaining()
            )));
        }
        let mut times = Vec::with_capacity(pairs);
        for _ in 0..pairs {
            times.push(r.i64()?);
        }
        let ranks = &data[r.pos..];
        let mut state = HllState::new();
        state.newest = newest;
        let max_rank = (hll.shift + 1) as u8;
        let mut start = 0;
        let mut previous: i32 = -1;
        let mut indices = Vec::with_capacity(n);
        let mut stairs = Vec::with_capacity(n);
        let mut heads = Vec::with_capacity(n);
        for (index, count) in order.into_iter().zip(counts) {
            if !(previous < index as i32 && (index as u32) < hll.m) || count == 0 {
                return Err(FormatError(
                    "sliding HyperLogLog: bad register index or empty staircase".into(),
                ));
            }
            previous = index as i32;
            let pairs: Vec<(i64, u8)> = (start..start + count)
                .map(|j| (times[j], ranks[j]))
                .collect();
            start += count;
            if !pairs.windows(2).all(|p| p[0].0 < p[1].0 && p[0].1 > p[1].1) {
                return Err(FormatError(format!(
                    "sliding HyperLogLog: register {index} is not a staircase"
                )));
            }
            let (first, last) = (pairs[0], pairs[pairs.len() - 1]);
            if !(1 <= last.1 && last.1 <= first.1 && first.1 <= max_rank) || last.0 > newest {
                return Err(FormatError(format!(
                    "sliding HyperLogLog: register {index} holds an impossible pair"
                )));
            }
            heads.push((first.0, index));
            state.head_units += weight(first.1);
            indices.push(index);
            stairs.push(Stair::from_vec(pairs));
        }
        state.heads = Heads::from_unsorted(heads);
        state.stairs = Registers::from_sorted(indices, stairs);
        Ok(state)
    }
}
