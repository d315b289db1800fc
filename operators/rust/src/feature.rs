//! One feature of one entity — the rules of `operators/feature.py` for the shapes this
//! core covers: count, and sum of a float field, over a lifetime or a tiled sliding
//! window, with or without a refresh cadence. Every branch mirrors the Python code
//! (including which path an event takes), so the states agree byte for byte; the
//! Python operators are the oracle the tests compare against.

use crate::codec::{Decoded, FormatError, Reader, Writer, RUN_FLOAT, RUN_INT, RUN_NONE, TAG_FLOAT};

pub const NEG_INF: i64 = -(1 << 62);
pub const POS_INF: i64 = 1 << 62;

/// Python's floor division for a positive divisor.
#[inline]
fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

#[inline]
fn ceil_to(t: i64, step: i64) -> i64 {
    -floor_div(-t, step) * step
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// `Count`: an int intermediate, `acc + 1` per event.
    Count,
    /// `Sum` of a float field: a float intermediate, `acc + value` per event.
    SumFloat,
}

/// An intermediate: an int for counts, a float for sums.
#[derive(Clone, Copy, Debug)]
pub enum Acc {
    I(i64),
    F(f64),
}

impl Kind {
    #[inline]
    pub fn init(self) -> Acc {
        match self {
            Kind::Count => Acc::I(0),
            Kind::SumFloat => Acc::F(0.0),
        }
    }
    #[inline]
    fn add(self, acc: Acc, value: f64) -> Acc {
        match acc {
            Acc::I(a) => Acc::I(a + 1),
            Acc::F(a) => Acc::F(a + value),
        }
    }
    #[inline]
    fn merge(self, a: Acc, b: Acc) -> Acc {
        match (a, b) {
            (Acc::I(x), Acc::I(y)) => Acc::I(x + y),
            (Acc::F(x), Acc::F(y)) => Acc::F(x + y),
            _ => unreachable!("one feature has one intermediate type"),
        }
    }
    /// `aggregator.to_bytes`: Count `>Bq` (1, n); Sum `0x01` + tagged float.
    fn acc_bytes(self, acc: Acc, w: &mut Writer) {
        match acc {
            Acc::I(a) => {
                w.u8(1);
                w.i64(a);
            }
            Acc::F(a) => {
                w.u8(1);
                w.u8(TAG_FLOAT);
                w.f64(a);
            }
        }
    }
    fn acc_from(self, data: &[u8]) -> Decoded<Acc> {
        match self {
            Kind::Count => {
                let mut r = Reader::new(data, "count");
                r.version(1)?;
                let n = r.i64()?;
                r.end()?;
                Ok(Acc::I(n))
            }
            Kind::SumFloat => {
                let mut r = Reader::new(data, "sum");
                r.version(1)?;
                let tag = r.u8()?;
                if tag != TAG_FLOAT {
                    return Err(FormatError(format!(
                        "sum: value tag {tag}, the native core keeps float sums"
                    )));
                }
                let v = r.f64()?;
                r.end()?;
                Ok(Acc::F(v))
            }
        }
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
        }
    }

    /// `coverage.lo(t)`.
    #[inline]
    fn lo(&self, t: i64) -> i64 {
        self.bounds(t).0
    }
}

/// An event waiting for `now` to pass it: (event time, seq, value).
pub type Pending = (i64, i64, f64);

pub enum Main {
    /// `LifetimeStrategy`'s `Running`.
    Running { acc: Acc, events: i64 },
    /// `TilesStrategy`'s `TileMap`: tiles in dict insertion order.
    Tiles {
        tiles: Vec<(i64, Acc)>,
        oldest: Option<i64>,
    },
}

pub struct FeatureState {
    pub main: Main,
    pub pending: Vec<Pending>,
    pub sealed_at: i64,
    pub sealed: Acc,
}

impl FeatureState {
    pub fn new(spec: &Spec) -> Self {
        let main = match spec.window {
            Window::Lifetime => Main::Running {
                acc: spec.kind.init(),
                events: 0,
            },
            Window::Tiled { .. } => Main::Tiles {
                tiles: Vec::new(),
                oldest: None,
            },
        };
        FeatureState {
            main,
            pending: Vec::new(),
            sealed_at: NEG_INF,
            sealed: spec.kind.init(),
        }
    }
}

// -- strategies ------------------------------------------------------------------------------

#[inline]
fn find_tile(tiles: &[(i64, Acc)], index: i64) -> Option<usize> {
    // The newest tiles are at the end and take nearly every event.
    tiles.iter().rposition(|&(k, _)| k == index)
}

fn evict_tiles(tiles: &mut Vec<(i64, Acc)>, oldest: &mut Option<i64>, tile: i64, bound: i64) {
    let last_dead = floor_div(bound, tile) - 1;
    match *oldest {
        Some(o) if o <= last_dead => {}
        _ => return,
    }
    tiles.retain(|&(k, _)| k > last_dead);
    *oldest = if tiles.is_empty() {
        None
    } else {
        Some(last_dead + 1)
    };
}

/// `strategy.insert(main, event_time, seq, value, bound)`.
fn strategy_insert(spec: &Spec, main: &mut Main, event_time: i64, value: f64, bound: i64) {
    let kind = spec.kind;
    match main {
        Main::Running { acc, events } => {
            *acc = kind.add(*acc, value);
            *events += 1;
        }
        Main::Tiles { tiles, oldest } => {
            let Window::Tiled { tile, .. } = spec.window else {
                unreachable!()
            };
            let index = floor_div(event_time - 1, tile);
            if let Some(i) = find_tile(tiles, index) {
                tiles[i].1 = kind.add(tiles[i].1, value);
                return;
            }
            tiles.push((index, kind.add(kind.init(), value)));
            if oldest.is_none_or(|o| index < o) {
                *oldest = Some(index);
            }
            evict_tiles(tiles, oldest, tile, bound);
        }
    }
}

/// `strategy.partial(main, lo, hi)`.
fn strategy_partial(spec: &Spec, main: &Main, lo: i64, hi: i64) -> Acc {
    let kind = spec.kind;
    match main {
        Main::Running { acc, .. } => kind.merge(kind.init(), *acc),
        Main::Tiles { tiles, .. } => {
            let Window::Tiled { tile, .. } = spec.window else {
                unreachable!()
            };
            let first = floor_div(lo, tile);
            let last = floor_div(hi - 1, tile);
            let mut acc = kind.init();
            for &(index, tile_acc) in tiles.iter() {
                if first <= index && index <= last {
                    acc = kind.merge(acc, tile_acc);
                }
            }
            acc
        }
    }
}

// -- the feature -----------------------------------------------------------------------------

/// `FeatureOperator._partial`.
fn partial(spec: &Spec, state: &FeatureState, t: i64) -> Acc {
    let (lo, hi) = spec.bounds(t);
    let mut acc = strategy_partial(spec, &state.main, lo, hi);
    for &(event_time, _, value) in state.pending.iter() {
        if lo < event_time && event_time <= hi {
            acc = spec.kind.add(acc, value);
        }
    }
    acc
}

/// `FeatureOperator._seal`.
fn seal(spec: &Spec, state: &mut FeatureState, now: i64) {
    let refresh = spec.refresh.expect("seal needs a refresh cadence");
    let sealed = refresh.sealed_boundary(now);
    if sealed > state.sealed_at {
        state.sealed = partial(spec, state, sealed);
        state.sealed_at = sealed;
    }
}

/// `FeatureOperator._add_slow`.
fn add_slow(
    spec: &Spec,
    state: &mut FeatureState,
    event_time: i64,
    seq: i64,
    value: f64,
    now: i64,
) {
    if spec.refresh.is_some() {
        seal(spec, state, now);
    }
    let settled = now - spec.pending_horizon;
    let bound = spec.lo(now - spec.query_horizon);
    if !state.pending.is_empty() {
        let mut moved = 0;
        for &(t, _, v) in state.pending.iter() {
            if t > settled {
                break;
            }
            if t > bound {
                strategy_insert(spec, &mut state.main, t, v, bound);
            }
            moved += 1;
        }
        state.pending.drain(..moved);
    }
    if event_time > settled {
        // insort by (event_time, seq): after every smaller key (seqs are unique)
        let at = state
            .pending
            .partition_point(|&(t, s, _)| (t, s) <= (event_time, seq));
        state.pending.insert(at, (event_time, seq, value));
    } else if event_time > bound {
        strategy_insert(spec, &mut state.main, event_time, value, bound);
    }
}

/// `FeatureOperator.add`: the specialised paths of `_build_add`, taken in the same cases.
pub fn add(spec: &Spec, state: &mut FeatureState, event_time: i64, seq: i64, value: f64, now: i64) {
    match spec.window {
        Window::Lifetime => {
            if spec.refresh.is_some() || event_time > now || !state.pending.is_empty() {
                add_slow(spec, state, event_time, seq, value, now);
            } else {
                strategy_insert(spec, &mut state.main, event_time, value, NEG_INF);
            }
        }
        Window::Tiled { size, tile } => {
            if event_time > now || !state.pending.is_empty() {
                add_slow(spec, state, event_time, seq, value, now);
                return;
            }
            if let Some(r) = spec.refresh {
                if floor_div(now - r.lag - 1, r.every) * r.every > state.sealed_at {
                    seal(spec, state, now);
                }
            }
            let kind = spec.kind;
            let Main::Tiles { tiles, oldest } = &mut state.main else {
                unreachable!()
            };
            let index = floor_div(event_time - 1, tile);
            if let Some(i) = find_tile(tiles, index) {
                tiles[i].1 = kind.add(tiles[i].1, value);
                return;
            }
            let bound = ceil_to(now - spec.query_horizon, tile) - size;
            if event_time <= bound {
                return;
            }
            tiles.push((index, kind.add(kind.init(), value)));
            match *oldest {
                None => *oldest = Some(index),
                Some(o) if index < o => *oldest = Some(index),
                Some(o) if o < floor_div(bound, tile) => evict_tiles(tiles, oldest, tile, bound),
                _ => {}
            }
        }
    }
}

/// A read before the newest sealed publication (`ReadBeforeStateError` in Python).
pub struct ReadBefore {
    pub boundary: i64,
    pub sealed_at: i64,
}

/// `FeatureOperator.intermediate`.
pub fn intermediate(spec: &Spec, state: &FeatureState, t: i64) -> Result<Acc, ReadBefore> {
    let Some(refresh) = spec.refresh else {
        return Ok(partial(spec, state, t));
    };
    let boundary = refresh.boundary(t);
    if boundary == state.sealed_at {
        return Ok(spec.kind.merge(spec.kind.init(), state.sealed));
    }
    if boundary > state.sealed_at {
        return Ok(partial(spec, state, boundary));
    }
    Err(ReadBefore {
        boundary,
        sealed_at: state.sealed_at,
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
    }
}

// -- bytes -----------------------------------------------------------------------------------

/// `encode_values` of one feature's values: floats for sums, `None` for counts.
fn values_run(spec: &Spec, values: impl ExactSizeIterator<Item = f64>, w: &mut Writer) {
    if values.len() == 0 {
        return;
    }
    match spec.kind {
        Kind::Count => w.u8(RUN_NONE),
        Kind::SumFloat => {
            w.u8(RUN_FLOAT);
            for v in values {
                w.f64(v);
            }
        }
    }
}

/// `encode_events(pending)`.
fn encode_pending(spec: &Spec, pending: &[Pending], w: &mut Writer) {
    w.u32(pending.len() as u32);
    for p in pending {
        w.i64(p.0);
    }
    for p in pending {
        w.i64(p.1);
    }
    values_run(spec, pending.iter().map(|p| p.2), w);
}

fn decode_pending(spec: &Spec, r: &mut Reader) -> Decoded<Vec<Pending>> {
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
    let mut out: Vec<Pending> = Vec::with_capacity(n);
    for _ in 0..n {
        out.push((r.i64()?, 0, 0.0));
    }
    for p in out.iter_mut() {
        p.1 = r.i64()?;
    }
    let kind = r.u8()?;
    match (spec.kind, kind) {
        (Kind::Count, RUN_NONE) => {}
        (Kind::SumFloat, RUN_FLOAT) => {
            for p in out.iter_mut() {
                p.2 = r.f64()?;
            }
        }
        _ => {
            return Err(FormatError(format!(
                "pending events: value run kind {kind} does not fit {:?}",
                spec.kind
            )))
        }
    }
    Ok(out)
}

fn main_bytes(spec: &Spec, main: &Main, w: &mut Writer) {
    match main {
        Main::Running { acc, events } => {
            let mut a = Writer::with_capacity(10);
            spec.kind.acc_bytes(*acc, &mut a);
            w.u8(1);
            w.i64(*events);
            w.u32(a.buf.len() as u32);
            w.bytes(&a.buf);
        }
        Main::Tiles { tiles, oldest } => {
            w.u8(2);
            w.i64(oldest.unwrap_or(NEG_INF));
            w.u32(tiles.len() as u32);
            if tiles.is_empty() {
                return;
            }
            for &(k, _) in tiles.iter() {
                w.i64(k);
            }
            w.u8(1); // tile aggregates as one value run
            match spec.kind {
                Kind::Count => {
                    w.u8(RUN_INT);
                    for &(_, a) in tiles.iter() {
                        let Acc::I(n) = a else { unreachable!() };
                        w.i64(n);
                    }
                }
                Kind::SumFloat => {
                    w.u8(RUN_FLOAT);
                    for &(_, a) in tiles.iter() {
                        let Acc::F(x) = a else { unreachable!() };
                        w.f64(x);
                    }
                }
            }
        }
    }
}

fn main_from(spec: &Spec, data: &[u8]) -> Decoded<Main> {
    match spec.window {
        Window::Lifetime => {
            let mut r = Reader::new(data, "lifetime");
            r.version(1)?;
            let events = r.i64()?;
            let size = r.u32()? as usize;
            if r.remaining() != size {
                return Err(FormatError(format!(
                    "lifetime: aggregate of {size} bytes, {} left",
                    r.remaining()
                )));
            }
            let acc = spec.kind.acc_from(&data[r.pos..])?;
            Ok(Main::Running { acc, events })
        }
        Window::Tiled { .. } => {
            let mut r = Reader::new(data, "tiles");
            r.version(2)?;
            let oldest = r.i64()?;
            let n = r.u32()? as usize;
            let mut tiles: Vec<(i64, Acc)> = Vec::with_capacity(n);
            if n > 0 {
                if r.remaining() <= 8 * n {
                    return Err(FormatError(format!(
                        "tiles: truncated state: {n} tiles in {} bytes",
                        data.len()
                    )));
                }
                for _ in 0..n {
                    tiles.push((r.i64()?, spec.kind.init()));
                }
                let mode = r.u8()?;
                let run = r.u8()?;
                match (mode, spec.kind, run) {
                    (1, Kind::Count, RUN_INT) => {
                        for t in tiles.iter_mut() {
                            t.1 = Acc::I(r.i64()?);
                        }
                    }
                    (1, Kind::SumFloat, RUN_FLOAT) => {
                        for t in tiles.iter_mut() {
                            t.1 = Acc::F(r.f64()?);
                        }
                    }
                    _ => {
                        return Err(FormatError(format!(
                            "tiles: encoding {mode}/{run} does not fit {:?}",
                            spec.kind
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
    }
}

/// `FeatureOperator.to_bytes`.
pub fn to_bytes(spec: &Spec, state: &FeatureState, w: &mut Writer) {
    let mut main = Writer::with_capacity(64);
    main_bytes(spec, &state.main, &mut main);
    w.u8(2);
    w.u32(main.buf.len() as u32);
    w.bytes(&main.buf);
    encode_pending(spec, &state.pending, w);
    w.i64(state.sealed_at);
    if state.sealed_at != NEG_INF {
        let mut sealed = Writer::with_capacity(10);
        spec.kind.acc_bytes(state.sealed, &mut sealed);
        w.blob(&sealed.buf);
    }
}

/// `FeatureOperator.from_bytes`.
pub fn from_bytes(spec: &Spec, data: &[u8]) -> Decoded<FeatureState> {
    let mut r = Reader::new(data, "feature");
    r.version(2)?;
    let main = main_from(spec, r.blob()?)?;
    let pending = decode_pending(spec, &mut r)?;
    let sealed_at = r.i64()?;
    let mut sealed = spec.kind.init();
    if sealed_at != NEG_INF {
        if spec.refresh.is_none() {
            return Err(FormatError(
                "feature has no refresh but its state holds a snapshot".into(),
            ));
        }
        sealed = spec.kind.acc_from(r.blob()?)?;
    }
    r.end()?;
    Ok(FeatureState {
        main,
        pending,
        sealed_at,
        sealed,
    })
}
