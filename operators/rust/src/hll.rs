//! HyperLogLog (`operators/aggregations/hll.py`) and the sliding HyperLogLog staircases
//! (`operators/windows/sliding_hll.py`): the same hash, ranks, estimate and bytes.

use crate::codec::{Decoded, FormatError, Reader, Writer};
use crate::feature::NEG_INF;
use blake2::digest::{Update, VariableOutput};
use blake2::Blake2bVar;
use std::collections::VecDeque;
use std::sync::atomic::{
    fence, AtomicBool, AtomicI64, AtomicU32, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};

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

/// A register's staircase: `(event_time, rank)` pairs, times strictly increasing, ranks
/// strictly decreasing (never empty), read in place from its run's pairs.
type Stair<'a> = &'a [(i64, u8)];

/// The first pair of `stair` after `lo` (a staircase is a few pairs: a scan).
#[inline]
fn first_after(stair: Stair<'_>, lo: i64) -> Option<(i64, u8)> {
    stair.iter().find(|p| p.0 > lo).copied()
}

/// A sorted run of registers, their staircases laid end to end in one array of pairs:
/// `regs[j]` is register `j`'s index (high 16 bits) and one past its last pair in `pairs`
/// (low 16 bits), so register `j` holds `pairs[end(j - 1)..end(j)]`. A lookup searches
/// `regs` (a few cache lines) and reads `pairs` where the register's lie; the encoding reads
/// both arrays front to back as it writes its sections. No allocation per register and no
/// pointer to follow per register in a state that is not in cache (until stop 49 a
/// staircase of several pairs lived in an allocation of its own, a cache miss each in the
/// encoding's walk; until stop 32 a direct index in no order made that walk a random one:
/// `benchmarks/results/hll_layout_s32/`). Two arrays, not one per field: an insert into a
/// small state that is not in cache misses once per array it touches.
struct Run {
    regs: Vec<u32>,
    pairs: Vec<(i64, u8)>,
}

/// A run holds at most `RUN_MAX + 1` registers of at most 61 pairs each (ranks are
/// distinct, at most 61 at precision 4): its pair positions fit in `regs`' low 16 bits.
const END_BITS: u32 = 16;
const END_MASK: u32 = (1 << END_BITS) - 1;

impl Run {
    fn new() -> Self {
        Run {
            regs: Vec::new(),
            pairs: Vec::new(),
        }
    }

    #[inline]
    fn len(&self) -> usize {
        self.regs.len()
    }

    /// Register `p`'s index.
    #[inline]
    fn index(&self, p: usize) -> u16 {
        (self.regs[p] >> END_BITS) as u16
    }

    #[inline]
    fn position(&self, index: u16) -> Result<usize, usize> {
        self.regs
            .binary_search_by(|w| ((w >> END_BITS) as u16).cmp(&index))
    }

    /// Where register `p`'s pairs lie in `pairs`.
    #[inline]
    fn span(&self, p: usize) -> (usize, usize) {
        let start = if p == 0 {
            0
        } else {
            (self.regs[p - 1] & END_MASK) as usize
        };
        (start, (self.regs[p] & END_MASK) as usize)
    }

    #[inline]
    fn stair(&self, p: usize) -> Stair<'_> {
        let (s, e) = self.span(p);
        &self.pairs[s..e]
    }

    /// Move the ends of registers `p..` by `delta` pairs (the low bits never wrap: an end
    /// stays within `0..=pairs.len()`).
    #[inline]
    fn shift_ends(&mut self, p: usize, delta: i32) {
        for w in &mut self.regs[p..] {
            *w = w.wrapping_add(delta as u32);
        }
    }

    /// Add register `index` (absent) in its place, with one pair.
    fn insert_absent(&mut self, index: u16, pair: (i64, u8)) {
        let Err(p) = self.position(index) else {
            unreachable!("register {index} is already present")
        };
        let at = if p == 0 {
            0
        } else {
            self.regs[p - 1] & END_MASK
        };
        self.regs.insert(p, (index as u32) << END_BITS | at);
        self.pairs.insert(at as usize, pair);
        self.shift_ends(p, 1);
    }

    /// Register `p`'s `splice(k..end, [pair])`: replace its pairs `k..end` with `pair`.
    fn replace(&mut self, p: usize, k: usize, end: usize, pair: (i64, u8)) {
        let (s, _) = self.span(p);
        if end == k + 1 {
            self.pairs[s + k] = pair;
            return;
        }
        self.pairs.splice(s + k..s + end, [pair]);
        self.shift_ends(p, 1 - (end - k) as i32);
    }

    /// Register `p`'s `drain(..k)` (it keeps at least one pair).
    fn drop_front(&mut self, p: usize, k: usize) {
        let (s, _) = self.span(p);
        self.pairs.drain(s..s + k);
        self.shift_ends(p, -(k as i32));
    }

    /// Remove register `index`; whether it was there.
    fn remove(&mut self, index: u16) -> bool {
        let Ok(p) = self.position(index) else {
            return false;
        };
        let (s, e) = self.span(p);
        self.pairs.drain(s..e);
        self.regs.remove(p);
        self.shift_ends(p, -((e - s) as i32));
        true
    }

    /// Append `other`'s registers (all above this run's).
    fn append(&mut self, other: Run) {
        let base = self.pairs.len() as u32;
        self.regs.extend(other.regs.iter().map(|w| w + base));
        self.pairs.extend(other.pairs);
    }

    /// Split off the upper half, leaving the lower half here.
    fn split_upper(&mut self) -> Run {
        let half = self.len() / 2;
        let cut = self.regs[half - 1] & END_MASK;
        Run {
            regs: self
                .regs
                .split_off(half)
                .into_iter()
                .map(|w| w - cut)
                .collect(),
            pairs: self.pairs.split_off(cut as usize),
        }
    }
}

/// Runs of at most this many registers: an insert or a removal shifts one run's tail (at most
/// ~2 KiB of registers and pairs), not the whole state's, which in a sketch of thousands
/// of registers was most of an insert (`memmove` inside `strategy_insert`, stop 45).
const RUN_MAX: usize = 64;

/// The non-empty registers' staircases in index order: one run while the state is small
/// (most are: two vectors, no allocation per register), runs of at most [`RUN_MAX`]
/// registers over consecutive index ranges once it holds more than that.
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
    fn get(&self, index: u16) -> Option<Stair<'_>> {
        let run = match self {
            Registers::One(run) => run,
            Registers::Runs { starts, runs, .. } => &runs[Self::run_of(starts, index)],
        };
        run.position(index).ok().map(|p| run.stair(p))
    }

    /// The run holding register `index` and its position there.
    #[inline]
    fn locate_mut(&mut self, index: u16) -> Option<(&mut Run, usize)> {
        let run = match self {
            Registers::One(run) => run,
            Registers::Runs { starts, runs, .. } => &mut runs[Self::run_of(starts, index)],
        };
        let p = run.position(index).ok()?;
        Some((run, p))
    }

    /// Add register `index` (absent) with one pair.
    fn insert(&mut self, index: u16, pair: (i64, u8)) {
        match self {
            Registers::One(run) => {
                run.insert_absent(index, pair);
                if run.len() > RUN_MAX {
                    let upper = run.split_upper();
                    let lower = std::mem::replace(run, Run::new());
                    *self = Registers::Runs {
                        starts: vec![0, upper.index(0)],
                        len: lower.len() + upper.len(),
                        runs: vec![lower, upper],
                    };
                }
            }
            Registers::Runs { starts, runs, len } => {
                let r = Self::run_of(starts, index);
                let run = &mut runs[r];
                run.insert_absent(index, pair);
                *len += 1;
                if run.len() > RUN_MAX {
                    let upper = run.split_upper();
                    starts.insert(r + 1, upper.index(0));
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
                        one.append(run);
                    }
                    *self = Registers::One(one);
                }
            }
        }
    }

    /// `(index, staircase)` by register index.
    fn sorted(&self) -> impl Iterator<Item = (u16, Stair<'_>)> {
        self.runs()
            .iter()
            .flat_map(|run| (0..run.len()).map(move |p| (run.index(p), run.stair(p))))
    }

    /// The pairs over every register.
    fn points(&self) -> usize {
        self.runs().iter().map(|run| run.pairs.len()).sum()
    }

    /// From the sections of the encoding, checked (`from_bytes`): the indices, each
    /// register's end in `pairs`; runs of half [`RUN_MAX`] when many.
    fn from_sorted(indices: &[u16], ends: &[u32], pairs: Vec<(i64, u8)>) -> Self {
        let word = |index: u16, end: u32| (index as u32) << END_BITS | end;
        if indices.len() <= RUN_MAX {
            return Registers::One(Run {
                regs: indices
                    .iter()
                    .zip(ends)
                    .map(|(&i, &e)| word(i, e))
                    .collect(),
                pairs,
            });
        }
        let len = indices.len();
        let size = RUN_MAX / 2;
        let mut runs = Vec::with_capacity(len.div_ceil(size));
        let mut starts = Vec::with_capacity(len.div_ceil(size));
        for (chunk, first) in (0..len).step_by(size).enumerate() {
            let last = (first + size).min(len);
            let base = if first == 0 { 0 } else { ends[first - 1] };
            let top = ends[last - 1] as usize;
            starts.push(if chunk == 0 { 0 } else { indices[first] });
            runs.push(Run {
                regs: (first..last)
                    .map(|j| word(indices[j], ends[j] - base))
                    .collect(),
                pairs: pairs[base as usize..top].to_vec(),
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

    /// The queue of `keys` (in any order): sorted as one `u64` each — the time from the
    /// oldest in the high 48 bits, the register in the low 16, the same order as the pairs'
    /// — when the times span less than 2^48 ms (else as pairs), a sort of machine words
    /// rather than of tuples (a decoded state's queue is sorted once: most of its decoding).
    fn from_unsorted(mut keys: Vec<(i64, u16)>) -> Self {
        let (lo, hi) = keys.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &(t, _)| {
            (lo.min(t), hi.max(t))
        });
        if keys.len() < 2 || (hi as i128 - lo as i128) >= 1i128 << 48 {
            keys.sort_unstable();
            return Heads(keys.into());
        }
        let mut packed: Vec<u64> = keys
            .iter()
            .map(|&(t, index)| ((t - lo) as u64) << 16 | index as u64)
            .collect();
        packed.sort_unstable();
        for (key, &word) in keys.iter_mut().zip(&packed) {
            *key = ((word >> 16) as i64 + lo, word as u16);
        }
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
    /// The last read's answer, kept up to date by inserts (see [`ReadCache`]).
    read: ReadCache,
}

/// What the last read over `(lo, +inf)` found: the registers with a pair after `lo`, the
/// harmonic sum of each one's first pair after it, and the oldest pair after it. Every read
/// over `(lo', +inf)` with `lo <= lo' < oldest` has the same answer (no pair lies in
/// `(lo, lo']`), so it needs no walk; inserts keep the sums for `lo` (the one register they
/// change, whose staircase they hold anyway), and an eviction past `oldest` or an insert
/// that drops the oldest pair clears it. Why: a flow publishes each touched entity as of
/// the wall clock; when the events it applies are a day or more older than that (a replay
/// of recent history, a source running behind), `lo` lies well after the eviction bound and
/// each read walked the queue's heads up to `lo` twice (the value and the oldest pair), a
/// `Registers::get` each — about a third of the example view's publishing cost
/// (`benchmarks/results/s56/`). Reads go through `&self` (publishing shares the states),
/// hence atomics; the runtime reads a state from one thread at a time, but a caller may read
/// one from several, so a read stores its answer under a sequence lock: a read that finds
/// another storing, or the stamp changed while it copied the fields, walks instead.
struct ReadCache {
    /// Even when no read is storing, odd while one is.
    stamp: AtomicU64,
    valid: AtomicBool,
    lo: AtomicI64,
    units_low: AtomicU64,
    units_high: AtomicU64,
    nonempty: AtomicU32,
    /// The oldest pair's time after `lo`; `i64::MAX` when none.
    oldest: AtomicI64,
}

impl ReadCache {
    fn new() -> Self {
        ReadCache {
            stamp: AtomicU64::new(0),
            valid: AtomicBool::new(false),
            lo: AtomicI64::new(0),
            units_low: AtomicU64::new(0),
            units_high: AtomicU64::new(0),
            nonempty: AtomicU32::new(0),
            oldest: AtomicI64::new(i64::MAX),
        }
    }

    /// `(nonempty, units, oldest)` over `(lo, +inf)` when the cached read answers it.
    #[inline]
    fn answer(&self, lo: i64) -> Option<(u32, u128, i64)> {
        let stamp = self.stamp.load(Acquire);
        if stamp & 1 == 1 || !self.valid.load(Relaxed) {
            return None;
        }
        let (from, oldest) = (self.lo.load(Relaxed), self.oldest.load(Relaxed));
        let nonempty = self.nonempty.load(Relaxed);
        let units =
            (self.units_high.load(Relaxed) as u128) << 64 | self.units_low.load(Relaxed) as u128;
        fence(Acquire);
        if self.stamp.load(Relaxed) != stamp || lo < from || lo >= oldest {
            return None;
        }
        Some((nonempty, units, oldest))
    }

    /// Keep a read's answer (unless another read is storing one meanwhile).
    #[inline]
    fn store(&self, lo: i64, nonempty: u32, units: u128, oldest: i64) {
        let stamp = self.stamp.load(Relaxed);
        if stamp & 1 == 1
            || self
                .stamp
                .compare_exchange(stamp, stamp + 1, Acquire, Relaxed)
                .is_err()
        {
            return;
        }
        fence(Release);
        self.lo.store(lo, Relaxed);
        self.nonempty.store(nonempty, Relaxed);
        self.units_low.store(units as u64, Relaxed);
        self.units_high.store((units >> 64) as u64, Relaxed);
        self.oldest.store(oldest, Relaxed);
        self.valid.store(true, Relaxed);
        self.stamp.store(stamp + 2, Release);
    }

    /// The cached `lo` while valid (an insert updates the sums only then).
    #[inline]
    fn lo_if_valid(&mut self) -> Option<i64> {
        if *self.valid.get_mut() {
            Some(*self.lo.get_mut())
        } else {
            None
        }
    }

    #[inline]
    fn clear(&mut self) {
        *self.valid.get_mut() = false;
    }

    /// One register's first pair after `lo` changed from `before` to `after` (`None`: it
    /// has none); `added`: the time of a pair just added to it.
    #[inline]
    fn register_changed(
        &mut self,
        lo: i64,
        before: Option<(i64, u8)>,
        after: Option<(i64, u8)>,
        added: i64,
    ) {
        let oldest = *self.oldest.get_mut();
        let newer = if added > lo && added < oldest {
            added
        } else {
            oldest
        };
        if before.is_some_and(|(t, _)| t == oldest)
            && after.is_none_or(|(t, _)| t != oldest)
            && newer == oldest
        {
            // the register lost the oldest pair after `lo`: the next oldest may lie in another
            self.clear();
            return;
        }
        let units = (*self.units_high.get_mut() as u128) << 64 | *self.units_low.get_mut() as u128;
        let units = units - before.map_or(0, |p| weight(p.1)) + after.map_or(0, |p| weight(p.1));
        *self.units_low.get_mut() = units as u64;
        *self.units_high.get_mut() = (units >> 64) as u64;
        let nonempty = self.nonempty.get_mut();
        *nonempty = *nonempty + after.is_some() as u32 - before.is_some() as u32;
        *self.oldest.get_mut() = newer;
    }
}

impl HllState {
    pub fn new() -> Self {
        HllState {
            stairs: Registers::new(),
            heads: Heads::new(),
            newest: NEG_INF,
            head_units: 0,
            read: ReadCache::new(),
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
            Registers::One(run) => crate::feature::prefetch_slice(&run.regs, usize::MAX),
            Registers::Runs { starts, .. } => crate::feature::prefetch_slice(starts, usize::MAX),
        }
    }

    /// Prefetch register `hash`'s staircase (its index cached by `prefetch_data`), or in a
    /// state of several runs the run's indices.
    #[inline]
    pub fn prefetch_deep(&self, hll: &Hll, hash: u64) {
        let (index, _) = hll.register_and_rank(hash);
        match &self.stairs {
            Registers::One(run) => {
                if let Ok(p) = run.position(index) {
                    let (s, _) = run.span(p);
                    crate::feature::prefetch(&run.pairs[s]);
                }
            }
            // the run's indices (searched next) rather than the staircase
            Registers::Runs { starts, runs, .. } => {
                let run = &runs[Registers::run_of(starts, index)];
                crate::feature::prefetch_slice(&run.regs, usize::MAX);
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
        let cached = self.read.lo_if_valid();
        let Some((run, p)) = self.stairs.locate_mut(index) else {
            self.stairs.insert(index, (event_time, rank));
            self.head_units += weight(rank);
            self.heads.push((event_time, index));
            if let Some(lo) = cached {
                let after = (event_time > lo).then_some((event_time, rank));
                self.read.register_changed(lo, None, after, event_time);
            }
            return;
        };
        let stair = run.stair(p);
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
        let before = cached.and_then(|lo| first_after(stair, lo));
        run.replace(p, k, end, (event_time, rank));
        if let Some(lo) = cached {
            let after = first_after(run.stair(p), lo);
            self.read.register_changed(lo, before, after, event_time);
        }
        if k == 0 {
            self.head_units = self.head_units - weight(old_rank) + weight(rank);
        }
        if k == 0 && event_time != old_head_time {
            self.heads.push((event_time, index));
            if self.heads.len() > 2 * self.stairs.len() + 16 {
                // mostly former heads: rebuild
                self.heads =
                    Heads::from_unsorted(self.stairs.sorted().map(|(j, s)| (s[0].0, j)).collect());
            }
        }
    }

    /// `SlidingHllStrategy.evict`: drop pairs with `event_time <= bound`.
    fn evict(&mut self, bound: i64) {
        // pairs up to `bound` go: the cached read holds while none of them lies after its `lo`.
        // (Past that, every head up to `bound` goes too, so no read would consult it before a
        // new one is stored; cleared all the same: a kept answer is never a wrong one.)
        if self.read.lo_if_valid().is_some() && bound >= *self.read.oldest.get_mut() {
            self.read.clear();
        }
        while let Some((t, index)) = self.top() {
            if t > bound {
                break;
            }
            self.heads.pop();
            let Some((run, p)) = self.stairs.locate_mut(index) else {
                continue;
            };
            let stair = run.stair(p);
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
                run.drop_front(p, k);
                let (head_time, head_rank) = run.stair(p)[0];
                self.head_units = self.head_units - weight(old_rank) + weight(head_rank);
                self.heads.push((head_time, index));
            }
        }
    }

    /// The registers whose current head is at or before `lo`, each once, with their
    /// staircases: the only ones whose pair over `(lo, +inf)` is not their head. They are at
    /// the front of the queue (its keys sorted; a stale key is a former head, and a head
    /// listed twice is listed in adjacent keys).
    fn heads_at_or_before(&self, lo: i64) -> impl Iterator<Item = Stair<'_>> + '_ {
        let mut previous = None;
        self.heads
            .0
            .iter()
            .take_while(move |key| key.0 <= lo)
            .filter_map(move |&key| {
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
        let (nonempty, units) = if self.top().is_some_and(|(t, _)| t <= lo) {
            let (nonempty, units, _) = self.read_after(lo);
            (nonempty, units)
        } else {
            // every register's head is after `lo`: the sums kept as it changes
            (self.stairs.len() as u32, self.head_units)
        };
        if nonempty == 0 {
            return 0;
        }
        hll.estimate(nonempty, (hll.m - nonempty) as u128 * weight(0) + units)
    }

    /// `(nonempty, units, oldest)` over `(lo, +inf)` when some head is at or before `lo`:
    /// the registers with a pair after it, the harmonic sum of each one's first pair after
    /// it, the oldest pair after it (`i64::MAX`: none) — from the cached read when it
    /// answers for `lo`, else from the queue's heads up to `lo` (then cached).
    fn read_after(&self, lo: i64) -> (u32, u128, i64) {
        if let Some(found) = self.read.answer(lo) {
            return found;
        }
        let mut nonempty = self.stairs.len() as u32;
        let mut units = self.head_units;
        let mut oldest = i64::MAX;
        for stair in self.heads_at_or_before(lo) {
            let head = weight(stair[0].1);
            match first_after(stair, lo) {
                Some(p) => {
                    units = units - head + weight(p.1);
                    oldest = oldest.min(p.0);
                }
                None => {
                    nonempty -= 1;
                    units -= head;
                }
            }
        }
        // the oldest current head after `lo` (the registers not walked above)
        if let Some(key) = self
            .heads
            .0
            .iter()
            .skip_while(|key| key.0 <= lo)
            .find(|key| {
                self.stairs
                    .get(key.1)
                    .is_some_and(|stair| stair[0].0 == key.0)
            })
        {
            oldest = oldest.min(key.0);
        }
        self.read.store(lo, nonempty, units, oldest);
        (nonempty, units, oldest)
    }

    /// The registers over `(lo, +inf)`.
    pub fn registers_after(&self, lo: i64) -> Vec<(u16, u8)> {
        if lo >= self.newest {
            return Vec::new();
        }
        self.stairs
            .sorted()
            .filter_map(|(index, stair)| first_after(stair, lo).map(|p| (index, p.1)))
            .collect()
    }

    /// `SlidingHllStrategy.oldest_after`: the oldest pair after `lo` — the oldest current
    /// head after it (the first current key of the queue after `lo`) or the first pair
    /// after `lo` of a register whose head is at or before it, whichever is older.
    pub fn oldest_after(&self, lo: i64) -> Option<i64> {
        if lo >= self.newest {
            return None;
        }
        match self.top() {
            // (a former head's key, as Python's heap answers it)
            Some((t, _)) if t > lo => Some(t),
            Some(_) => Some(self.read_after(lo).2).filter(|&t| t != i64::MAX),
            None => None,
        }
    }

    /// `SlidingHllStrategy.to_bytes`: version, precision, newest, register count; u16
    /// indices, u8 pair counts, int64 pair times, u8 ranks — registers by index.
    pub fn to_bytes(&self, hll: &Hll, w: &mut Writer) {
        w.u8(VERSION);
        w.u8(hll.precision);
        w.i64(self.newest);
        w.u32(self.stairs.len() as u32);
        let n = self.stairs.len();
        let points = self.stairs.points();
        // The four sections (indices, pair counts, times, ranks) filled run by run, each
        // run's arrays read front to back.
        let start = w.buf.len();
        w.buf.resize(start + 3 * n + 9 * points, 0);
        let (indices, rest) = w.buf[start..].split_at_mut(2 * n);
        let (counts, rest) = rest.split_at_mut(n);
        let (times, ranks) = rest.split_at_mut(8 * points);
        let (mut r, mut q) = (0, 0); // registers and pairs written
        for run in self.stairs.runs() {
            let mut previous = 0;
            for (j, &w) in run.regs.iter().enumerate() {
                let at = 2 * (r + j);
                indices[at..at + 2].copy_from_slice(&((w >> END_BITS) as u16).to_be_bytes());
                counts[r + j] = ((w & END_MASK) - previous) as u8;
                previous = w & END_MASK;
            }
            let slots = times[8 * q..]
                .chunks_exact_mut(8)
                .zip(ranks[q..].iter_mut());
            for (&(time, rank), (slot, out)) in run.pairs.iter().zip(slots) {
                slot.copy_from_slice(&time.to_be_bytes());
                *out = rank;
            }
            r += run.len();
            q += run.pairs.len();
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
        let head = &data[r.pos..];
        let order: Vec<u16> = head[..2 * n]
            .chunks_exact(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .collect();
        let counts = &head[2 * n..3 * n];
        let pairs: usize = counts.iter().map(|&c| c as usize).sum();
        let body = &head[3 * n..];
        if body.len() != 9 * pairs {
            return Err(FormatError(format!(
                "sliding HyperLogLog: {} bytes for {pairs} pairs",
                body.len()
            )));
        }
        let times: Vec<i64> = body[..8 * pairs]
            .chunks_exact(8)
            .map(|b| i64::from_be_bytes(b.try_into().unwrap()))
            .collect();
        let ranks = &body[8 * pairs..];
        let mut state = HllState::new();
        state.newest = newest;
        let max_rank = (hll.shift + 1) as u8;
        let mut start = 0;
        let mut previous: i32 = -1;
        let mut ends = Vec::with_capacity(n);
        let mut heads = Vec::with_capacity(n);
        for (&index, &count) in order.iter().zip(counts) {
            let count = count as usize;
            if !(previous < index as i32 && (index as u32) < hll.m) || count == 0 {
                return Err(FormatError(
                    "sliding HyperLogLog: bad register index or empty staircase".into(),
                ));
            }
            previous = index as i32;
            let end = start + count;
            let (ts, rs) = (&times[start..end], &ranks[start..end]);
            if !(1..count).all(|j| ts[j - 1] < ts[j] && rs[j - 1] > rs[j]) {
                return Err(FormatError(format!(
                    "sliding HyperLogLog: register {index} is not a staircase"
                )));
            }
            let (first, last) = (rs[0], rs[count - 1]);
            if !(1 <= last && last <= first && first <= max_rank) || ts[count - 1] > newest {
                return Err(FormatError(format!(
                    "sliding HyperLogLog: register {index} holds an impossible pair"
                )));
            }
            heads.push((ts[0], index));
            state.head_units += weight(first);
            ends.push(end as u32);
            start = end;
        }
        state.heads = Heads::from_unsorted(heads);
        let pairs = times.into_iter().zip(ranks.iter().copied()).collect();
        state.stairs = Registers::from_sorted(&order, &ends, pairs);
        Ok(state)
    }
}
