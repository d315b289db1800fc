//! One feature of one entity — the rules of `operators/feature.py` for the shapes this
//! core covers. Every branch mirrors the Python code (including which path an event
//! takes), so the states agree byte for byte; the Python operators are the oracle the
//! tests compare against.
//!
//! Covered: count and float sum over lifetime, tiled (optionally refreshed) and exact
//! sliding windows (subtract-on-evict); float max over exact sliding windows (monotonic
//! queue); the last n floats over the lifetime; approximate distinct strings over exact
//! sliding windows (sliding HyperLogLog).

use crate::codec::{Decoded, FormatError, Reader, Writer, RUN_FLOAT, RUN_NONE, TAG_FLOAT};
use crate::hll::{Hll, HllState};
use std::collections::VecDeque;
use std::sync::Arc;

pub const NEG_INF: i64 = -(1 << 62);
pub const POS_INF: i64 = 1 << 62;
const RUN_INT: u8 = 2;
const RUN_STR: u8 = 4;
const RUN_TAGGED: u8 = 0;
const TAG_STR: u8 = 5;

/// Python's floor division for a positive divisor.
#[inline]
pub fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

#[inline]
fn ceil_to(t: i64, step: i64) -> i64 {
    -floor_div(-t, step) * step
}

/// An event's input value.
#[derive(Clone, Debug)]
pub enum Val {
    Nil,
    F(f64),
    /// A string and its `hash64` (what distinct counts need of it).
    S(Arc<str>, u64),
    /// A string of a replayed batch: its `hash64` and its place in the batch's table of
    /// strings (`Val::owned` gives the `S` to keep). No reference count to touch per event.
    H(u64, u32),
}

impl Val {
    /// The `hash64` of a string value.
    #[inline]
    fn hash(&self) -> Option<u64> {
        match self {
            Val::S(_, hash) | Val::H(hash, _) => Some(*hash),
            _ => None,
        }
    }

    /// A value to keep beyond the batch: `H` resolved through the batch's `texts`.
    fn owned(&self, texts: &[impl AsRef<str>]) -> Val {
        match self {
            Val::H(hash, at) => Val::S(Arc::from(texts[*at as usize].as_ref()), *hash),
            other => other.clone(),
        }
    }

    #[inline]
    fn f(&self) -> f64 {
        match self {
            Val::F(x) => *x,
            _ => 0.0,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Kind {
    /// `Count`: an int intermediate, `acc + 1` per event.
    Count,
    /// `Sum` of a float field: a float intermediate, `acc + value` per event.
    SumFloat,
    /// `Max` of a float field (`None` when empty).
    MaxFloat,
    /// `LastN(n)` of a float field: the n latest `(event_time, seq, value)`.
    LastN(usize),
    /// `ApproxDistinct` of a string field (HyperLogLog).
    Distinct(Hll),
}

/// An intermediate.
#[derive(Clone, Debug)]
pub enum Acc {
    I(i64),
    F(f64),
    Opt(Option<f64>),
    Last(Vec<(i64, i64, f64)>),
    /// HyperLogLog registers (register -> rank), sparse.
    Regs(Vec<(u16, u8)>),
}

impl Kind {
    pub fn init(&self) -> Acc {
        match self {
            Kind::Count => Acc::I(0),
            Kind::SumFloat => Acc::F(0.0),
            Kind::MaxFloat => Acc::Opt(None),
            Kind::LastN(_) => Acc::Last(Vec::new()),
            Kind::Distinct(_) => Acc::Regs(Vec::new()),
        }
    }

    /// `aggregator.add(acc, value, event_time, seq)`.
    fn add(&self, acc: &mut Acc, value: &Val, event_time: i64, seq: i64) {
        match (self, acc) {
            (Kind::Count, Acc::I(a)) => *a += 1,
            (Kind::SumFloat, Acc::F(a)) => *a += value.f(),
            (Kind::MaxFloat, Acc::Opt(a)) => {
                let v = value.f();
                if a.is_none_or(|x| v > x) {
                    *a = Some(v);
                }
            }
            (Kind::LastN(n), Acc::Last(items)) => {
                last_n_add(*n, items, (event_time, seq, value.f()))
            }
            (Kind::Distinct(hll), Acc::Regs(regs)) => {
                let Some(hash) = value.hash() else {
                    unreachable!("distinct values are strings")
                };
                let (index, rank) = hll.register_and_rank(hash);
                match regs.iter_mut().find(|r| r.0 == index) {
                    Some(r) if rank > r.1 => r.1 = rank,
                    Some(_) => {}
                    None => regs.push((index, rank)),
                }
            }
            _ => unreachable!("one feature has one intermediate type"),
        }
    }

    /// `merge(init(), acc)`: a copy (the float `0.0 + x` included).
    fn copy_of(&self, acc: &Acc) -> Acc {
        match acc {
            Acc::I(a) => Acc::I(*a),
            Acc::F(a) => Acc::F(0.0 + *a),
            other => other.clone(),
        }
    }

    #[inline]
    fn merge_sum(&self, a: &mut Acc, b: &Acc) {
        match (a, b) {
            (Acc::I(x), Acc::I(y)) => *x += *y,
            (Acc::F(x), Acc::F(y)) => *x += *y,
            _ => unreachable!("tiles hold counts and sums"),
        }
    }

    /// `aggregator.to_bytes(acc)`.
    fn acc_bytes(&self, acc: &Acc, w: &mut Writer) {
        match acc {
            Acc::I(a) => {
                w.u8(1);
                w.i64(*a);
            }
            Acc::F(a) => {
                w.u8(1);
                w.u8(TAG_FLOAT);
                w.f64(*a);
            }
            Acc::Last(items) => {
                w.u8(1);
                w.u32(items.len() as u32);
                for &(t, s, v) in items {
                    w.i64(t);
                    w.i64(s);
                    w.u8(TAG_FLOAT);
                    w.f64(v);
                }
            }
            _ => unreachable!("only counts, sums and last-n are stored whole"),
        }
    }

    fn acc_from(&self, data: &[u8]) -> Decoded<Acc> {
        let what = match self {
            Kind::Count => "count",
            Kind::SumFloat => "sum",
            Kind::LastN(_) => "last-n",
            _ => "aggregate",
        };
        let mut r = Reader::new(data, what);
        r.version(1)?;
        let acc = match self {
            Kind::Count => Acc::I(r.i64()?),
            Kind::SumFloat => {
                let tag = r.u8()?;
                if tag != TAG_FLOAT {
                    return Err(FormatError(format!(
                        "sum: value tag {tag}, the native core keeps float sums"
                    )));
                }
                Acc::F(r.f64()?)
            }
            Kind::LastN(n) => {
                let count = r.u32()? as usize;
                if count > *n || count > data.len() {
                    return Err(FormatError(format!("last-n: {count} items")));
                }
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    let (t, s) = (r.i64()?, r.i64()?);
                    let tag = r.u8()?;
                    if tag != TAG_FLOAT {
                        return Err(FormatError(format!(
                            "last-n: value tag {tag}, the native core keeps floats"
                        )));
                    }
                    items.push((t, s, r.f64()?));
                }
                Acc::Last(items)
            }
            _ => return Err(FormatError("no stored aggregate for this feature".into())),
        };
        r.end()?;
        Ok(acc)
    }
}

/// `LastN.add`.
fn last_n_add(n: usize, acc: &mut Vec<(i64, i64, f64)>, item: (i64, i64, f64)) {
    let key = (item.0, item.1);
    if acc.len() < n {
        if acc.last().is_none_or(|l| key >= (l.0, l.1)) {
            acc.push(item);
            return;
        }
    } else if key <= (acc[0].0, acc[0].1) {
        return;
    } else if key >= (acc[acc.len() - 1].0, acc[acc.len() - 1].1) {
        acc.remove(0);
        acc.push(item);
        return;
    }
    let at = acc.partition_point(|x| (x.0, x.1) <= key);
    acc.insert(at, item);
    if acc.len() > n {
        acc.drain(..acc.len() - n);
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Window {
    Lifetime,
    /// Sliding window of `size` kept in tiles of `tile` (`TiledCoverage` + `TilesStrategy`).
    Tiled {
        size: i64,
        tile: i64,
    },
    /// Exact sliding window of `size` (`SlidingCoverage`).
    Sliding {
        size: i64,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct Refresh {
    pub every: i64,
    pub lag: i64,
}

impl Refresh {
    #[inline]
    fn boundary(&self, t: i64) -> i64 {
        floor_div(t - self.lag, self.every) * self.every
    }
    #[inline]
    fn sealed_boundary(&self, arrival: i64) -> i64 {
        floor_div(arrival - self.lag - 1, self.every) * self.every
    }
}

/// A compiled feature: what `FeatureOperator.__init__` derives.
#[derive(Clone, Debug)]
pub struct Spec {
    pub kind: Kind,
    pub window: Window,
    pub refresh: Option<Refresh>,
    query_horizon: i64,
    pending_horizon: i64,
}

impl Spec {
    pub fn new(kind: Kind, window: Window, refresh: Option<Refresh>) -> Self {
        let query_horizon = refresh.map_or(0, |r| r.every + r.lag);
        let tile_aligned = matches!(window, Window::Tiled { .. });
        Spec {
            kind,
            window,
            refresh,
            query_horizon,
            pending_horizon: if tile_aligned { 0 } else { query_horizon },
        }
    }

    /// `coverage.bounds(t)`.
    #[inline]
    fn bounds(&self, t: i64) -> (i64, i64) {
        match self.window {
            Window::Lifetime => (NEG_INF, t),
            Window::Tiled { size, tile } => (ceil_to(t, tile) - size, t),
            Window::Sliding { size } => (t - size, t),
        }
    }

    /// `coverage.lo(t)`.
    #[inline]
    fn lo(&self, t: i64) -> i64 {
        self.bounds(t).0
    }
}

/// An event kept by a strategy or waiting in `pending`: (event time, seq, value).
pub type Event = (i64, i64, Val);

pub enum Main {
    /// `LifetimeStrategy`'s `Running`.
    Running { acc: Acc, events: i64 },
    /// `TilesStrategy`'s `TileMap`: tiles in dict insertion order.
    Tiles {
        tiles: Vec<(i64, Acc)>,
        oldest: Option<i64>,
    },
    /// `SubtractOnEvictStrategy`'s `RunningLog`: the live events and their aggregate.
    Subtract {
        events: VecDeque<(i64, i64, f64)>,
        acc: Acc,
    },
    /// `MonotonicStrategy`'s queue of undominated events.
    Monotonic { events: VecDeque<(i64, i64, f64)> },
    /// `SlidingHllStrategy`'s staircases.
    Hll(Box<HllState>),
}

pub struct FeatureState {
    pub main: Main,
    pub pending: Vec<Event>,
    /// The intermediate sealed at the latest refresh boundary, `(boundary, intermediate)`;
    /// `None` before the first seal (`sealed_at` is `NEG_INF`). Boxed: only refreshed
    /// features seal, and an entity holds a state per feature (32 bytes less each).
    sealed: Option<Box<(i64, Acc)>>,
}

impl FeatureState {
    /// The boundary of the sealed intermediate (`NEG_INF`: none).
    #[inline]
    pub fn sealed_at(&self) -> i64 {
        self.sealed.as_ref().map_or(NEG_INF, |s| s.0)
    }

    pub fn new(spec: &Spec) -> Self {
        let main = match (&spec.kind, spec.window) {
            (_, Window::Lifetime) => Main::Running {
                acc: spec.kind.init(),
                events: 0,
            },
            (_, Window::Tiled { .. }) => Main::Tiles {
                tiles: Vec::new(),
                oldest: None,
            },
            (Kind::MaxFloat, Window::Sliding { .. }) => Main::Monotonic {
                events: VecDeque::new(),
            },
            (Kind::Distinct(_), Window::Sliding { .. }) => Main::Hll(Box::new(HllState::new())),
            (_, Window::Sliding { .. }) => Main::Subtract {
                events: VecDeque::new(),
                acc: spec.kind.init(),
            },
        };
        FeatureState {
            main,
            pending: Vec::new(),
            sealed: None,
        }
    }
}

/// Ask the CPU to bring the cache line holding `p` closer (a hint: never faults, never
/// reads `*p` itself, so a stale or dangling address is harmless).
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is a hint; it does not dereference the address architecturally
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Prefetch the cache lines of `items`, at most `max_bytes` of them.
#[inline]
pub fn prefetch_slice<T>(items: &[T], max_bytes: usize) {
    let base = items.as_ptr() as *const u8;
    for offset in (0..std::mem::size_of_val(items).min(max_bytes)).step_by(64) {
        prefetch(base.wrapping_add(offset));
    }
}

impl FeatureState {
    /// Prefetch the memory inserting a value reads first: the newest tile (every tile
    /// when a refresh may seal them), both ends of an event queue, a sketch's register
    /// indices. (The value itself matters to `prefetch_deep` only: the same arguments for
    /// both steps.)
    #[inline]
    pub fn prefetch_data(&self, spec: &Spec, _value: &Val) {
        match &self.main {
            Main::Running { .. } => {}
            Main::Tiles { tiles, .. } => {
                if spec.refresh.is_some() {
                    prefetch_slice(tiles, 16 * 64);
                } else if let Some(last) = tiles.last() {
                    prefetch(last);
                }
            }
            Main::Subtract { events, .. } | Main::Monotonic { events } => {
                if let Some(first) = events.front() {
                    prefetch(first);
                }
                if let Some(last) = events.back() {
                    prefetch(last);
                }
            }
            Main::Hll(state) => state.prefetch_data(),
        }
    }

    /// The step after `prefetch_data`, once what it fetched is cached.
    #[inline]
    pub fn prefetch_deep(&self, spec: &Spec, value: &Val) {
        if let (Main::Hll(state), Kind::Distinct(hll), Some(hash)) =
            (&self.main, &spec.kind, value.hash())
        {
            state.prefetch_deep(hll, hash);
        }
    }
}

// -- strategies ------------------------------------------------------------------------------

#[inline]
fn find_tile(tiles: &[(i64, Acc)], index: i64) -> Option<usize> {
    // The newest tiles are at the end and take nearly every event.
    tiles.iter().rposition(|(k, _)| *k == index)
}

fn evict_tiles(tiles: &mut Vec<(i64, Acc)>, oldest: &mut Option<i64>, tile: i64, bound: i64) {
    let last_dead = floor_div(bound, tile) - 1;
    match *oldest {
        Some(o) if o <= last_dead => {}
        _ => return,
    }
    tiles.retain(|(k, _)| *k > last_dead);
    *oldest = if tiles.is_empty() {
        None
    } else {
        Some(last_dead + 1)
    };
}

/// `events.partition_point(pred)` (`pred` true on a prefix), searched by galloping from
/// the front (`from_back` false) or the back: the answer is usually a few events from
/// that end (eviction drops the oldest few; a late event lands among the newest), and a
/// binary search over a large window probes far-apart, uncached events.
fn gallop<F: Fn(&(i64, i64, f64)) -> bool>(
    events: &VecDeque<(i64, i64, f64)>,
    pred: F,
    from_back: bool,
) -> usize {
    let n = events.len();
    // (lo, hi): pred holds before lo, fails from hi on; the answer is in lo..=hi
    let (mut lo, mut hi) = (0, n);
    if from_back {
        let mut step = 1;
        loop {
            let probe = hi.saturating_sub(step);
            if probe == 0 || pred(&events[probe - 1]) {
                lo = probe;
                break;
            }
            hi = probe - 1;
            step *= 2;
        }
    } else {
        let mut step = 1;
        loop {
            let probe = lo + step;
            if probe > n || !pred(&events[probe - 1]) {
                hi = probe.min(n);
                break;
            }
            lo = probe;
            step *= 2;
        }
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(&events[mid]) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Index of the first event with `event_time > t` (`EventQueue.index_after`).
#[inline]
fn index_after(events: &VecDeque<(i64, i64, f64)>, t: i64) -> usize {
    gallop(events, |e| e.0 <= t, false)
}

/// `SubtractOnEvictStrategy.evict`.
fn subtract_evict(kind: &Kind, events: &mut VecDeque<(i64, i64, f64)>, acc: &mut Acc, bound: i64) {
    let stop = index_after(events, bound);
    if stop == 0 {
        return;
    }
    if stop == events.len() {
        *acc = kind.init(); // an empty window restarts from the exact empty value
    } else {
        match acc {
            Acc::I(a) => *a -= stop as i64,
            Acc::F(a) => {
                for e in events.iter().take(stop) {
                    *a -= e.2;
                }
            }
            _ => unreachable!(),
        }
    }
    events.drain(..stop);
}

/// `strategy.insert(main, event_time, seq, value, bound)`.
fn strategy_insert(
    spec: &Spec,
    main: &mut Main,
    event_time: i64,
    seq: i64,
    value: &Val,
    bound: i64,
) {
    let kind = &spec.kind;
    match main {
        Main::Running { acc, events } => {
            kind.add(acc, value, event_time, seq);
            *events += 1;
        }
        Main::Tiles { tiles, oldest } => {
            let Window::Tiled { tile, .. } = spec.window else {
                unreachable!()
            };
            let index = floor_div(event_time - 1, tile);
            if let Some(i) = find_tile(tiles, index) {
                kind.add(&mut tiles[i].1, value, event_time, seq);
                return;
            }
            let mut acc = kind.init();
            kind.add(&mut acc, value, event_time, seq);
            tiles.push((index, acc));
            if oldest.is_none_or(|o| index < o) {
                *oldest = Some(index);
            }
            evict_tiles(tiles, oldest, tile, bound);
        }
        Main::Subtract { events, acc } => {
            if events.front().is_some_and(|e| e.0 <= bound) {
                subtract_evict(kind, events, acc, bound);
            }
            kind.add(acc, value, event_time, seq);
            let item = (event_time, seq, value.f());
            match events.back() {
                Some(last) if (event_time, seq) < (last.0, last.1) => {
                    let at = gallop(events, |e| (e.0, e.1) <= (event_time, seq), true);
                    events.insert(at, item);
                }
                _ => events.push_back(item),
            }
        }
        Main::Monotonic { events } => {
            if events.front().is_some_and(|e| e.0 <= bound) {
                let stop = index_after(events, bound);
                events.drain(..stop);
            }
            let v = value.f();
            let in_order = events
                .back()
                .is_none_or(|l| event_time > l.0 || (event_time == l.0 && seq > l.1));
            if in_order {
                while events.back().is_some_and(|l| v > l.2) {
                    events.pop_back();
                }
                events.push_back((event_time, seq, v));
                return;
            }
            let position = gallop(events, |e| (e.0, e.1) <= (event_time, seq), true);
            if position < events.len() && events[position].2 > v {
                return;
            }
            let mut start = position;
            while start > 0 && v > events[start - 1].2 {
                start -= 1;
            }
            events.drain(start..position);
            events.insert(start, (event_time, seq, v));
        }
        Main::Hll(state) => {
            let Kind::Distinct(hll) = kind else {
                unreachable!()
            };
            let Some(hash) = value.hash() else {
                unreachable!("distinct values are strings")
            };
            state.insert(hll, event_time, hash, bound);
        }
    }
}

/// The partial aggregate of the strategy over `(lo, hi]`; `Err` when a suffix strategy
/// holds an event newer than `hi` (`ReadBeforeNewestEventError`).
fn strategy_partial(spec: &Spec, main: &Main, lo: i64, hi: i64) -> Result<Acc, ReadError> {
    let kind = &spec.kind;
    Ok(match main {
        Main::Running { acc, .. } => kind.copy_of(acc),
        Main::Tiles { tiles, .. } => {
            let Window::Tiled { tile, .. } = spec.window else {
                unreachable!()
            };
            let first = floor_div(lo, tile);
            let last = floor_div(hi - 1, tile);
            let mut acc = kind.init();
            for (index, tile_acc) in tiles.iter() {
                if first <= *index && *index <= last {
                    kind.merge_sum(&mut acc, tile_acc);
                }
            }
            acc
        }
        Main::Subtract { events, acc } => {
            let start = index_after(events, lo);
            let end = events.len();
            if start == end {
                return Ok(kind.init());
            }
            let stop = if events[end - 1].0 <= hi {
                end
            } else {
                events.partition_point(|e| e.0 <= hi)
            };
            match acc {
                Acc::I(_) => Acc::I((stop - start) as i64),
                Acc::F(total) => {
                    if stop - start < start + end - stop {
                        let mut a = 0.0;
                        for e in events.range(start..stop) {
                            a += e.2;
                        }
                        Acc::F(a)
                    } else {
                        let mut a = 0.0 + *total;
                        for e in events.range(..start) {
                            a -= e.2;
                        }
                        for e in events.range(stop..) {
                            a -= e.2;
                        }
                        Acc::F(a)
                    }
                }
                _ => unreachable!(),
            }
        }
        Main::Monotonic { events } => {
            if let Some(last) = events.back() {
                if last.0 > hi {
                    return Err(ReadError::BeforeNewest { newest: last.0, hi });
                }
            }
            let index = index_after(events, lo);
            Acc::Opt(events.get(index).map(|e| e.2))
        }
        Main::Hll(state) => {
            if hi < state.newest {
                return Err(ReadError::BeforeNewest {
                    newest: state.newest,
                    hi,
                });
            }
            Acc::Regs(state.registers_after(lo))
        }
    })
}

/// `strategy.oldest_after(main, lo)` of the exact sliding strategies.
fn oldest_after(main: &Main, lo: i64) -> Option<i64> {
    match main {
        Main::Subtract { events, .. } | Main::Monotonic { events } => {
            events.get(index_after(events, lo)).map(|e| e.0)
        }
        Main::Hll(state) => state.oldest_after(lo),
        _ => None,
    }
}

// -- the feature -----------------------------------------------------------------------------

/// Why a read cannot be answered (Python raises the same errors).
pub enum ReadError {
    /// `ReadBeforeStateError`: before the newest sealed publication.
    BeforeSealed { boundary: i64, sealed_at: i64 },
    /// `ReadBeforeNewestEventError`: a window ending before a stored event.
    BeforeNewest { newest: i64, hi: i64 },
}

/// `FeatureOperator._partial`.
fn partial(spec: &Spec, state: &FeatureState, t: i64) -> Result<Acc, ReadError> {
    let (lo, hi) = spec.bounds(t);
    let mut acc = strategy_partial(spec, &state.main, lo, hi)?;
    for (event_time, seq, value) in state.pending.iter() {
        if lo < *event_time && *event_time <= hi {
            spec.kind.add(&mut acc, value, *event_time, *seq);
        }
    }
    Ok(acc)
}

/// `FeatureOperator._seal`.
fn seal(spec: &Spec, state: &mut FeatureState, now: i64) {
    let refresh = spec.refresh.expect("seal needs a refresh cadence");
    let sealed = refresh.sealed_boundary(now);
    if sealed > state.sealed_at() {
        // counts and sums over lifetime and tiles: never a suffix-strategy error
        let acc = partial(spec, state, sealed).unwrap_or_else(|_| unreachable!());
        match &mut state.sealed {
            Some(snapshot) => **snapshot = (sealed, acc),
            None => state.sealed = Some(Box::new((sealed, acc))),
        }
    }
}

/// `FeatureOperator._add_slow`.
fn add_slow(
    spec: &Spec,
    state: &mut FeatureState,
    event_time: i64,
    seq: i64,
    value: &Val,
    now: i64,
    texts: &[impl AsRef<str>],
) {
    if spec.refresh.is_some() {
        seal(spec, state, now);
    }
    let settled = now - spec.pending_horizon;
    let bound = spec.lo(now - spec.query_horizon);
    if !state.pending.is_empty() {
        let moved = state.pending.iter().take_while(|p| p.0 <= settled).count();
        for (t, s, v) in state.pending.drain(..moved) {
            if t > bound {
                strategy_insert(spec, &mut state.main, t, s, &v, bound);
            }
        }
    }
    if event_time > settled {
        // insort by (event_time, seq): after every smaller key (seqs are unique)
        let at = state
            .pending
            .partition_point(|p| (p.0, p.1) <= (event_time, seq));
        state
            .pending
            .insert(at, (event_time, seq, value.owned(texts)));
    } else if event_time > bound {
        strategy_insert(spec, &mut state.main, event_time, seq, value, bound);
    }
}

/// `FeatureOperator.add`: the specialised paths of `_build_add`, taken in the same cases.
pub fn add(
    spec: &Spec,
    state: &mut FeatureState,
    event_time: i64,
    seq: i64,
    value: &Val,
    now: i64,
    texts: &[impl AsRef<str>],
) {
    match spec.window {
        Window::Lifetime => {
            if spec.refresh.is_some() || event_time > now || !state.pending.is_empty() {
                add_slow(spec, state, event_time, seq, value, now, texts);
            } else {
                strategy_insert(spec, &mut state.main, event_time, seq, value, NEG_INF);
            }
        }
        Window::Sliding { size } => {
            if spec.refresh.is_some() || event_time > now || !state.pending.is_empty() {
                add_slow(spec, state, event_time, seq, value, now, texts);
            } else if event_time > now - size {
                strategy_insert(spec, &mut state.main, event_time, seq, value, now - size);
            }
        }
        Window::Tiled { size, tile } => {
            if event_time > now || !state.pending.is_empty() {
                add_slow(spec, state, event_time, seq, value, now, texts);
                return;
            }
            if let Some(r) = spec.refresh {
                if floor_div(now - r.lag - 1, r.every) * r.every > state.sealed_at() {
                    seal(spec, state, now);
                }
            }
            let kind = &spec.kind;
            let Main::Tiles { tiles, oldest } = &mut state.main else {
                unreachable!()
            };
            let index = floor_div(event_time - 1, tile);
            if let Some(i) = find_tile(tiles, index) {
                kind.add(&mut tiles[i].1, value, event_time, seq);
                return;
            }
            let bound = ceil_to(now - spec.query_horizon, tile) - size;
            if event_time <= bound {
                return;
            }
            let mut acc = kind.init();
            kind.add(&mut acc, value, event_time, seq);
            tiles.push((index, acc));
            match *oldest {
                None => *oldest = Some(index),
                Some(o) if index < o => *oldest = Some(index),
                Some(o) if o < floor_div(bound, tile) => evict_tiles(tiles, oldest, tile, bound),
                _ => {}
            }
        }
    }
}

/// The value of a sliding distinct count read as of `t` without building its registers,
/// when nothing is pending (`SlidingHllStrategy.read_value`); `None` when the general path
/// is needed.
pub fn quick_distinct(spec: &Spec, state: &FeatureState, t: i64) -> Option<Result<i64, ReadError>> {
    let (Kind::Distinct(hll), Window::Sliding { size }, Main::Hll(hs)) =
        (&spec.kind, spec.window, &state.main)
    else {
        return None;
    };
    if !state.pending.is_empty() || spec.refresh.is_some() {
        return None;
    }
    if t < hs.newest {
        return Some(Err(ReadError::BeforeNewest {
            newest: hs.newest,
            hi: t,
        }));
    }
    Some(Ok(hs.value_after(hll, t - size)))
}

/// A lifetime feature's accumulator as a read would copy it (`intermediate` of a `Running`
/// strategy without a refresh cadence or pending events is a copy of it, `copy_of`): reads
/// take it by reference instead (a copy of a last-n list is an allocation per read).
#[inline]
pub fn running_acc<'a>(spec: &Spec, state: &'a FeatureState) -> Option<&'a Acc> {
    if spec.refresh.is_some() || !state.pending.is_empty() {
        return None;
    }
    match &state.main {
        Main::Running { acc, .. } => Some(acc),
        _ => None,
    }
}

/// `FeatureOperator.intermediate`.
pub fn intermediate(spec: &Spec, state: &FeatureState, t: i64) -> Result<Acc, ReadError> {
    let Some(refresh) = spec.refresh else {
        return partial(spec, state, t);
    };
    let boundary = refresh.boundary(t);
    let sealed_at = state.sealed_at();
    if boundary == sealed_at {
        return Ok(match &state.sealed {
            Some(snapshot) => spec.kind.copy_of(&snapshot.1),
            None => spec.kind.init(),
        });
    }
    if boundary > sealed_at {
        return partial(spec, state, boundary);
    }
    Err(ReadError::BeforeSealed {
        boundary,
        sealed_at,
    })
}

/// `FeatureOperator.next_change`.
pub fn next_change(spec: &Spec, state: &FeatureState, t: i64) -> i64 {
    if let Some(r) = spec.refresh {
        return r.boundary(t) + r.every + r.lag;
    }
    let entering = state
        .pending
        .iter()
        .map(|p| p.0)
        .find(|&e| e > t)
        .unwrap_or(POS_INF);
    match spec.window {
        Window::Lifetime => entering,
        Window::Tiled { tile, .. } => entering.min(ceil_to(t, tile) + 1),
        Window::Sliding { size } => {
            let lo = t - size;
            let mut leaving = state.pending.iter().map(|p| p.0).find(|&e| e > lo);
            if let Some(stored) = oldest_after(&state.main, lo) {
                if leaving.is_none_or(|l| stored < l) {
                    leaving = Some(stored);
                }
            }
            match leaving {
                Some(l) if l + size < entering => l + size,
                _ => entering,
            }
        }
    }
}

// -- bytes -----------------------------------------------------------------------------------

/// `encode_values` of one feature's event values (all of one kind).
fn values_run<'a>(values: impl ExactSizeIterator<Item = &'a Val> + Clone, w: &mut Writer) {
    let n = values.len();
    if n == 0 {
        return;
    }
    let first = values.clone().next().unwrap();
    match first {
        Val::Nil => w.u8(RUN_NONE),
        Val::F(_) => {
            w.u8(RUN_FLOAT);
            for v in values {
                w.f64(v.f());
            }
        }
        Val::H(..) => unreachable!("pending events hold owned values (`Val::owned`)"),
        Val::S(..) => {
            let texts: Vec<&str> = values
                .map(|v| {
                    if let Val::S(s, _) = v {
                        &**s
                    } else {
                        unreachable!()
                    }
                })
                .collect();
            if texts.iter().all(|s| !s.contains('\0')) {
                let joined = texts.join("\0");
                w.u8(RUN_STR);
                w.u32(joined.len() as u32);
                w.bytes(joined.as_bytes());
            } else {
                w.u8(RUN_TAGGED);
                for s in texts {
                    w.u8(TAG_STR);
                    w.u32(s.len() as u32);
                    w.bytes(s.as_bytes());
                }
            }
        }
    }
}

fn decode_values(kind: &Kind, r: &mut Reader, n: usize) -> Decoded<Vec<Val>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let run = r.u8()?;
    let mut out = Vec::with_capacity(n);
    match (kind, run) {
        (Kind::Count, RUN_NONE) => out.resize(n, Val::Nil),
        (Kind::SumFloat | Kind::MaxFloat | Kind::LastN(_), RUN_FLOAT) => {
            for _ in 0..n {
                out.push(Val::F(r.f64()?));
            }
        }
        (Kind::Distinct(_), RUN_STR) => {
            let size = r.u32()? as usize;
            let start = r.pos;
            if r.remaining() < size {
                return Err(FormatError(format!(
                    "truncated state: {size} bytes of strings"
                )));
            }
            r.pos += size;
            let text = std::str::from_utf8(&r.data[start..start + size])
                .map_err(|e| FormatError(format!("corrupt state ({e})")))?;
            out.extend(text.split('\0').map(|s| Val::S(s.into(), Hll::hash(s))));
            if out.len() != n {
                return Err(FormatError(format!(
                    "string run holds {} values, expected {n}",
                    out.len()
                )));
            }
        }
        (Kind::Distinct(_), RUN_TAGGED) => {
            for _ in 0..n {
                if r.u8()? != TAG_STR {
                    return Err(FormatError("distinct values: expected strings".into()));
                }
                let raw = r.blob()?;
                let text = std::str::from_utf8(raw)
                    .map_err(|e| FormatError(format!("corrupt state ({e})")))?;
                out.push(Val::S(text.into(), Hll::hash(text)));
            }
        }
        _ => {
            return Err(FormatError(format!(
                "value run kind {run} does not fit this feature"
            )))
        }
    }
    Ok(out)
}

/// `encode_events(events)` of `(event_time, seq, value)`.
fn encode_events<'a>(
    times: impl Iterator<Item = (i64, i64)> + Clone,
    values: impl ExactSizeIterator<Item = &'a Val> + Clone,
    w: &mut Writer,
) {
    w.u32(values.len() as u32);
    for (t, _) in times.clone() {
        w.i64(t);
    }
    for (_, s) in times {
        w.i64(s);
    }
    values_run(values, w);
}

fn decode_events(kind: &Kind, r: &mut Reader) -> Decoded<Vec<Event>> {
    let n = r.u32()? as usize;
    if n == 0 {
        return Ok(Vec::new());
    }
    if r.remaining() < 16 * n {
        return Err(FormatError(format!(
            "truncated state: {n} events need {} bytes",
            16 * n
        )));
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        times.push(r.i64()?);
    }
    let mut seqs = Vec::with_capacity(n);
    for _ in 0..n {
        seqs.push(r.i64()?);
    }
    let values = decode_values(kind, r, n)?;
    Ok(times
        .into_iter()
        .zip(seqs)
        .zip(values)
        .map(|((t, s), v)| (t, s, v))
        .collect())
}

/// `encode_events` of events whose values are floats (or none, for a count), written
/// straight from the deque: the same bytes, without a `Val` per event first.
fn float_events(events: &VecDeque<(i64, i64, f64)>, kind: &Kind, w: &mut Writer) {
    let n = events.len();
    w.buf.reserve(4 + 24 * n + 1);
    w.u32(n as u32);
    if n == 0 {
        return;
    }
    // Each column into a slice of its final size (no capacity check per value: the
    // hot entities' logs are re-encoded at every batch that touches them).
    column_be(&mut w.buf, events, |e| e.0.to_be_bytes());
    column_be(&mut w.buf, events, |e| e.1.to_be_bytes());
    if matches!(kind, Kind::Count) {
        w.u8(RUN_NONE);
    } else {
        w.u8(RUN_FLOAT);
        column_be(&mut w.buf, events, |e| e.2.to_be_bytes());
    }
}

/// Append `field(e)` (8 bytes) of every event of `events` to `buf`, in order.
#[inline]
fn column_be(buf: &mut Vec<u8>, events: &VecDeque<(i64, i64, f64)>, field: impl Fn(&(i64, i64, f64)) -> [u8; 8]) {
    let start = buf.len();
    buf.resize(start + 8 * events.len(), 0);
    let (front, back) = events.as_slices();
    let (into_front, into_back) = buf[start..].split_at_mut(8 * front.len());
    for (out, e) in into_front.chunks_exact_mut(8).zip(front) {
        out.copy_from_slice(&field(e));
    }
    for (out, e) in into_back.chunks_exact_mut(8).zip(back) {
        out.copy_from_slice(&field(e));
    }
}

fn float_events_from(kind: &Kind, r: &mut Reader) -> Decoded<VecDeque<(i64, i64, f64)>> {
    Ok(decode_events(kind, r)?
        .into_iter()
        .map(|(t, s, v)| (t, s, v.f()))
        .collect())
}

fn main_bytes(spec: &Spec, main: &Main, w: &mut Writer) {
    let kind = &spec.kind;
    match main {
        Main::Running { acc, events } => {
            // `LifetimeStrategy.to_bytes`, version 2: the count as a varint, the aggregate the rest
            w.u8(2);
            w.varint(*events);
            kind.acc_bytes(acc, w);
        }
        Main::Tiles { tiles, oldest } => {
            // `TilesStrategy.to_bytes`, version 3: indices as varint differences, counts as varints
            w.u8(3);
            w.i64(oldest.unwrap_or(NEG_INF));
            w.u32(tiles.len() as u32);
            if tiles.is_empty() {
                return;
            }
            let mut previous = 0i64;
            for (k, _) in tiles.iter() {
                w.varint(k.wrapping_sub(previous));
                previous = *k;
            }
            match kind {
                Kind::Count => {
                    w.u8(2); // the tile aggregates as varints
                    for (_, a) in tiles.iter() {
                        let Acc::I(n) = a else { unreachable!() };
                        w.varint(*n);
                    }
                }
                _ => {
                    w.u8(1); // the tile aggregates as one value run
                    w.u8(RUN_FLOAT);
                    for (_, a) in tiles.iter() {
                        let Acc::F(x) = a else { unreachable!() };
                        w.f64(*x);
                    }
                }
            }
        }
        Main::Subtract { events, acc } => {
            w.u8(2);
            let at = w.start_blob();
            kind.acc_bytes(acc, w);
            w.end_blob(at);
            float_events(events, kind, w);
        }
        Main::Monotonic { events } => {
            w.u8(17);
            float_events(events, kind, w);
        }
        Main::Hll(state) => {
            let Kind::Distinct(hll) = kind else {
                unreachable!()
            };
            state.to_bytes(hll, w);
        }
    }
}

fn main_from(spec: &Spec, data: &[u8]) -> Decoded<Main> {
    let kind = &spec.kind;
    match (&spec.window, kind) {
        (Window::Lifetime, _) => {
            // versions 2 (written) and 1 (read only: an int64 count, a u32 length)
            let mut r = Reader::new(data, "lifetime");
            let old = data.first() == Some(&1);
            r.version(if old { 1 } else { 2 })?;
            let events = if old { r.i64()? } else { r.varint()? };
            if old {
                let size = r.u32()? as usize;
                if r.remaining() != size {
                    return Err(FormatError(format!(
                        "lifetime: aggregate of {size} bytes, {} left",
                        r.remaining()
                    )));
                }
            }
            let acc = kind.acc_from(&data[r.pos..])?;
            Ok(Main::Running { acc, events })
        }
        (Window::Tiled { .. }, _) => {
            // versions 3 (written) and 2 (read only: indices as int64, no varint mode)
            let mut r = Reader::new(data, "tiles");
            let version = match data.first() {
                Some(2) => 2,
                _ => 3,
            };
            r.version(version)?;
            let oldest = r.i64()?;
            let n = r.u32()? as usize;
            let mut tiles: Vec<(i64, Acc)> = Vec::with_capacity(n.min(r.remaining()));
            if n > 0 {
                let least = if version == 2 { 8 * n } else { n };
                if r.remaining() <= least {
                    return Err(FormatError(format!(
                        "tiles: truncated state: {n} tiles in {} bytes",
                        data.len()
                    )));
                }
                let mut previous = 0i64;
                for _ in 0..n {
                    let k = if version == 2 {
                        r.i64()?
                    } else {
                        previous = previous.wrapping_add(r.varint()?);
                        previous
                    };
                    tiles.push((k, kind.init()));
                }
                let mode = r.u8()?;
                match (mode, kind, version) {
                    (1, Kind::Count, _) | (1, Kind::SumFloat, _) => {
                        let run = r.u8()?;
                        match (kind, run) {
                            (Kind::Count, RUN_INT) => {
                                for t in tiles.iter_mut() {
                                    t.1 = Acc::I(r.i64()?);
                                }
                            }
                            (Kind::SumFloat, RUN_FLOAT) => {
                                for t in tiles.iter_mut() {
                                    t.1 = Acc::F(r.f64()?);
                                }
                            }
                            _ => {
                                return Err(FormatError(format!(
                                    "tiles: encoding {mode}/{run} does not fit {kind:?}"
                                )))
                            }
                        }
                    }
                    (2, Kind::Count, 3) => {
                        for t in tiles.iter_mut() {
                            t.1 = Acc::I(r.varint()?);
                        }
                    }
                    _ => {
                        return Err(FormatError(format!(
                            "tiles: encoding {mode} does not fit {kind:?}"
                        )))
                    }
                }
                let mut seen: Vec<i64> = tiles.iter().map(|t| t.0).collect();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() != n {
                    return Err(FormatError("tiles: repeated tile index".into()));
                }
            }
            r.end()?;
            Ok(Main::Tiles {
                tiles,
                oldest: if oldest == NEG_INF {
                    None
                } else {
                    Some(oldest)
                },
            })
        }
        (Window::Sliding { .. }, Kind::MaxFloat) => {
            let mut r = Reader::new(data, "monotonic queue");
            r.version(17)?;
            let events = float_events_from(kind, &mut r)?;
            r.end()?;
            let ordered = events
                .iter()
                .zip(events.iter().skip(1))
                .all(|(a, b)| (a.0, a.1) < (b.0, b.1) && !b.2.gt(&a.2)); // NaN: as Python's `>`
            if !ordered {
                return Err(FormatError(
                    "monotonic queue: events out of order or dominated".into(),
                ));
            }
            Ok(Main::Monotonic { events })
        }
        (Window::Sliding { .. }, Kind::Distinct(hll)) => {
            Ok(Main::Hll(Box::new(HllState::from_bytes(hll, data)?)))
        }
        (Window::Sliding { .. }, _) => {
            let mut r = Reader::new(data, "subtract-on-evict");
            r.version(2)?;
            let acc = kind.acc_from(r.blob()?)?;
            let events = float_events_from(kind, &mut r)?;
            r.end()?;
            Ok(Main::Subtract { events, acc })
        }
    }
}

/// `FeatureOperator.to_bytes`, version 3: the strategy's blob after a varint length, then
/// 0 when nothing is pending and nothing sealed, else 1 and version 2's tail.
pub fn to_bytes(spec: &Spec, state: &FeatureState, w: &mut Writer) {
    w.u8(3);
    let at = w.start_vblob();
    main_bytes(spec, &state.main, w);
    w.end_vblob(at);
    if state.pending.is_empty() && state.sealed.is_none() {
        w.u8(0);
        return;
    }
    w.u8(1);
    encode_events(
        state.pending.iter().map(|p| (p.0, p.1)),
        state.pending.iter().map(|p| &p.2),
        w,
    );
    w.i64(state.sealed_at());
    if let Some(snapshot) = &state.sealed {
        let at = w.start_blob();
        spec.kind.acc_bytes(&snapshot.1, w);
        w.end_blob(at);
    }
}

/// `FeatureOperator.from_bytes`.
pub fn from_bytes(spec: &Spec, data: &[u8]) -> Decoded<FeatureState> {
    let mut r = Reader::new(data, "feature");
    // versions 3 (written) and 2 (read only: a u32 length, the tail always)
    let version = if data.first() == Some(&2) { 2 } else { 3 };
    r.version(version)?;
    let main = main_from(spec, if version == 2 { r.blob()? } else { r.vblob()? })?;
    if version == 3 {
        match r.u8()? {
            0 => {
                r.end()?;
                return Ok(FeatureState {
                    main,
                    pending: Vec::new(),
                    sealed: None,
                });
            }
            1 => {}
            marker => {
                return Err(FormatError(format!(
                    "feature: corrupt state (tail marker {marker})"
                )))
            }
        }
    }
    let pending = decode_events(&spec.kind, &mut r)?;
    let sealed_at = r.i64()?;
    let mut sealed = None;
    if sealed_at != NEG_INF {
        if spec.refresh.is_none() {
            return Err(FormatError(
                "feature has no refresh but its state holds a snapshot".into(),
            ));
        }
        sealed = Some(Box::new((sealed_at, spec.kind.acc_from(r.blob()?)?)));
    }
    r.end()?;
    Ok(FeatureState {
        main,
        pending,
        sealed,
    })
}
