//! `KafkaBatchProducer`: records held in Rust, produced by index range through librdkafka
//! without the GIL — for a paced producer (the freshness benchmark) whose Python loop
//! calling confluent-kafka's `produce` once per record took a fifth of a core at 232,000
//! records/s on the two cores it shares with the flow it measures.
//!
//! The library is the one `load_librdkafka` opened (the librdkafka confluent-kafka loaded),
//! opened again by path; only its public ABI is used: `rd_kafka_produceva` and the layout
//! of `rd_kafka_vu_t` (librdkafka >= 1.7), the producer's construction, poll and flush.

use crate::kafka::{self, Library};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

const RD_KAFKA_PRODUCER: c_int = 0;
const ERR_QUEUE_FULL: c_int = -184;
const PARTITION_UA: i32 = -1;
const MSG_F_COPY: c_int = 0x2;
// rd_kafka_vtype_t
const VTYPE_TOPIC: c_int = 1;
const VTYPE_PARTITION: c_int = 3;
const VTYPE_VALUE: c_int = 4;
const VTYPE_KEY: c_int = 5;
const VTYPE_MSGFLAGS: c_int = 7;
const VTYPE_TIMESTAMP: c_int = 8;

#[repr(C)]
#[derive(Clone, Copy)]
struct Mem {
    ptr: *const c_void,
    size: usize,
}

/// `rd_kafka_vu_t`'s value union, padded to 64 bytes as librdkafka declares it.
#[repr(C)]
#[derive(Clone, Copy)]
union Value {
    cstr: *const c_char,
    i: c_int,
    i32_: i32,
    i64_: i64,
    mem: Mem,
    pad: [u8; 64],
}

/// `rd_kafka_vu_t`: a type tag and its value.
#[repr(C)]
#[derive(Clone, Copy)]
struct Vu {
    vtype: c_int,
    u: Value,
}

const _: () = assert!(std::mem::size_of::<Vu>() == 72);

#[repr(C)]
struct RdMessage {
    err: c_int,
    // the rest of rd_kafka_message_t is not read here
}

/// The producer's functions besides those the consumer's API holds.
struct Api {
    conf_set_opaque: unsafe extern "C" fn(*mut c_void, *mut c_void),
    conf_set_dr_msg_cb:
        unsafe extern "C" fn(*mut c_void, unsafe extern "C" fn(*mut c_void, *const RdMessage, *mut c_void)),
    produceva: unsafe extern "C" fn(*mut c_void, *const Vu, usize) -> *mut c_void,
    error_code: unsafe extern "C" fn(*const c_void) -> c_int,
    error_destroy: unsafe extern "C" fn(*mut c_void),
    poll: unsafe extern "C" fn(*mut c_void, c_int) -> c_int,
    flush: unsafe extern "C" fn(*mut c_void, c_int) -> c_int,
    outq_len: unsafe extern "C" fn(*mut c_void) -> c_int,
}

static API: OnceLock<Result<Api, String>> = OnceLock::new();

fn load(path: &str) -> Result<Api, String> {
    let lib = Library::open(path)?;
    // SAFETY: each type below is the function's librdkafka declaration (rd_kafka_produceva: >= 1.7).
    unsafe {
        Ok(Api {
            conf_set_opaque: lib.symbol("rd_kafka_conf_set_opaque")?,
            conf_set_dr_msg_cb: lib.symbol("rd_kafka_conf_set_dr_msg_cb")?,
            produceva: lib.symbol("rd_kafka_produceva")?,
            error_code: lib.symbol("rd_kafka_error_code")?,
            error_destroy: lib.symbol("rd_kafka_error_destroy")?,
            poll: lib.symbol("rd_kafka_poll")?,
            flush: lib.symbol("rd_kafka_flush")?,
            outq_len: lib.symbol("rd_kafka_outq_len")?,
        })
    }
}

/// The consumer's API (construction, errors) and the producer's own.
fn apis() -> PyResult<(&'static kafka::Api, &'static Api)> {
    let common = kafka::api()?;
    let path = kafka::loaded_path().ok_or_else(|| PyRuntimeError::new_err("load_librdkafka(path) was not called"))?;
    match API.get_or_init(|| load(path)) {
        Ok(api) => Ok((common, api)),
        Err(why) => Err(PyOSError::new_err(why.clone())),
    }
}

/// Delivery outcomes, counted by librdkafka's delivery-report callback.
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: AtomicI32,
}

unsafe extern "C" fn delivery_report(_rk: *mut c_void, message: *const RdMessage, opaque: *mut c_void) {
    // SAFETY: `opaque` is the producer's boxed `Deliveries`, alive until after rd_kafka_destroy.
    let deliveries = unsafe { &*(opaque as *const Deliveries) };
    let err = unsafe { (*message).err };
    if err == 0 {
        deliveries.delivered.fetch_add(1, Ordering::Relaxed);
    } else {
        if deliveries.failed.fetch_add(1, Ordering::Relaxed) == 0 {
            deliveries.first_error.store(err, Ordering::Relaxed);
        }
    }
}

struct Handle(*mut c_void);
// SAFETY: a librdkafka producer may be used from any thread; the mutex serialises our use.
unsafe impl Send for Handle {}

fn ends_of(data: &[u8], what: &str) -> PyResult<Vec<i64>> {
    if !data.len().is_multiple_of(8) {
        return Err(PyValueError::new_err(format!("{what} must be 64-bit integers (a multiple of 8 bytes)")));
    }
    Ok(data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect())
}

/// Records `i` = `values[value_ends[i-1]:value_ends[i]]` with key `keys[key_ends[i-1]:key_ends[i]]`
/// and Kafka timestamp `stamps[i]` (ms; the ends and stamps as little-endian int64 bytes, e.g.
/// a numpy int64 array's `tobytes()`), copied here once, produced to `topic` by index range
/// (`send`), partitioned by key as confluent-kafka's `produce` partitions them.
#[pyclass(module = "streamfeat._store_native")]
pub struct KafkaBatchProducer {
    handle: Mutex<Option<Handle>>,
    deliveries: Box<Deliveries>,
    topic: CString,
    values: Vec<u8>,
    value_ends: Vec<i64>,
    keys: Vec<u8>,
    key_ends: Vec<i64>,
    stamps: Vec<i64>,
}

#[pymethods]
impl KafkaBatchProducer {
    #[new]
    #[pyo3(signature = (settings, topic, values, value_ends, keys, key_ends, stamps))]
    fn new(
        settings: Vec<(String, String)>,
        topic: &str,
        values: &[u8],
        value_ends: &[u8],
        keys: &[u8],
        key_ends: &[u8],
        stamps: &[u8],
    ) -> PyResult<Self> {
        let (common, api) = apis()?;
        let (value_ends, key_ends, stamps) =
            (ends_of(value_ends, "value_ends")?, ends_of(key_ends, "key_ends")?, ends_of(stamps, "stamps")?);
        let n = value_ends.len();
        if key_ends.len() != n || stamps.len() != n {
            return Err(PyValueError::new_err("value_ends, key_ends and stamps must have one entry per record"));
        }
        for (ends, data, what) in [(&value_ends, values, "value_ends"), (&key_ends, keys, "key_ends")] {
            let mut last = 0i64;
            for &end in ends.iter() {
                if end < last || end as usize > data.len() {
                    return Err(PyValueError::new_err(format!("{what} must rise within the data's length")));
                }
                last = end;
            }
        }
        let topic_c = CString::new(topic).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let deliveries = Box::new(Deliveries::default());
        let opaque = &*deliveries as *const Deliveries as *mut c_void;
        // SAFETY: the callback and the opaque are set as librdkafka documents; the opaque
        // outlives the producer (Drop destroys the producer first).
        let rk = unsafe {
            kafka::new_client(common, RD_KAFKA_PRODUCER, &settings, "producer", |conf| {
                (api.conf_set_dr_msg_cb)(conf, delivery_report);
                (api.conf_set_opaque)(conf, opaque);
            })?
        };
        Ok(Self {
            handle: Mutex::new(Some(Handle(rk))),
            deliveries,
            topic: topic_c,
            values: values.to_vec(),
            value_ends,
            keys: keys.to_vec(),
            key_ends,
            stamps,
        })
    }

    /// Number of records held.
    fn __len__(&self) -> usize {
        self.value_ends.len()
    }

    /// Hand records `start..stop` to librdkafka (waiting while its queue is full), then
    /// serve delivery reports; without the GIL. Returns how many were handed over.
    fn send(&self, py: Python<'_>, start: usize, stop: usize) -> PyResult<usize> {
        let (common, api) = apis()?;
        let stop = stop.min(self.value_ends.len());
        if start >= stop {
            return Ok(0);
        }
        let guard = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        let rk = match guard.as_ref() {
            Some(h) => h.0 as usize,
            None => return Err(PyRuntimeError::new_err("the producer is closed")),
        };
        let result: Result<usize, c_int> = py.detach(|| {
            let rk = rk as *mut c_void;
            let mut vus = [Vu { vtype: 0, u: Value { pad: [0; 64] } }; 6];
            vus[0] = Vu { vtype: VTYPE_TOPIC, u: Value { cstr: self.topic.as_ptr() } };
            vus[1] = Vu { vtype: VTYPE_PARTITION, u: Value { i32_: PARTITION_UA } };
            vus[4] = Vu { vtype: VTYPE_MSGFLAGS, u: Value { i: MSG_F_COPY } };
            for i in start..stop {
                let (v0, v1) = (if i == 0 { 0 } else { self.value_ends[i - 1] as usize }, self.value_ends[i] as usize);
                let (k0, k1) = (if i == 0 { 0 } else { self.key_ends[i - 1] as usize }, self.key_ends[i] as usize);
                let value = self.values[v0..v1].as_ptr() as *const c_void;
                let key = self.keys[k0..k1].as_ptr() as *const c_void;
                vus[2] = Vu { vtype: VTYPE_VALUE, u: Value { mem: Mem { ptr: value, size: v1 - v0 } } };
                vus[3] = Vu { vtype: VTYPE_KEY, u: Value { mem: Mem { ptr: key, size: k1 - k0 } } };
                vus[5] = Vu { vtype: VTYPE_TIMESTAMP, u: Value { i64_: self.stamps[i] } };
                loop {
                    // SAFETY: a live producer; the values are copied (MSG_F_COPY) before it returns.
                    let error = unsafe { (api.produceva)(rk, vus.as_ptr(), vus.len()) };
                    if error.is_null() {
                        break;
                    }
                    // SAFETY: an error object produceva returned, destroyed once.
                    let code = unsafe { (api.error_code)(error) };
                    unsafe { (api.error_destroy)(error) };
                    if code != ERR_QUEUE_FULL {
                        return Err(code);
                    }
                    // SAFETY: a live producer.
                    unsafe { (api.poll)(rk, 10) };
                }
            }
            // SAFETY: a live producer.
            unsafe { (api.poll)(rk, 0) };
            Ok(stop - start)
        });
        result.map_err(|code| PyOSError::new_err(format!("cannot produce to Kafka: {}", kafka::err_text(common, code))))
    }

    /// Wait up to `timeout_ms` until every record handed over is delivered or failed;
    /// returns how many are still in flight.
    fn flush(&self, py: Python<'_>, timeout_ms: i32) -> PyResult<i64> {
        let (_, api) = apis()?;
        let guard = self.handle.lock().unwrap_or_else(|e| e.into_inner());
        let rk = match guard.as_ref() {
            Some(h) => h.0 as usize,
            None => return Err(PyRuntimeError::new_err("the producer is closed")),
        };
        // SAFETY: a live producer.
        Ok(py.detach(|| unsafe {
            (api.flush)(rk as *mut c_void, timeout_ms);
            (api.outq_len)(rk as *mut c_void)
        }) as i64)
    }

    /// `(delivered, failed, first failure's text or None)` so far.
    fn deliveries(&self) -> PyResult<(u64, u64, Option<String>)> {
        let common = kafka::api()?;
        let failed = self.deliveries.failed.load(Ordering::Relaxed);
        let first = (failed > 0).then(|| kafka::err_text(common, self.deliveries.first_error.load(Ordering::Relaxed)));
        Ok((self.deliveries.delivered.load(Ordering::Relaxed), failed, first))
    }

    /// Free the producer without waiting for records in flight (idempotent; `flush` first).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let common = kafka::api()?;
        if let Some(h) = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let rk = h.0 as usize;
            // SAFETY: taken out of the struct, so used here last.
            py.detach(move || unsafe { (common.destroy)(rk as *mut c_void) });
        }
        Ok(())
    }
}

impl Drop for KafkaBatchProducer {
    fn drop(&mut self) {
        let handle = self.handle.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let (Some(h), Ok(common)) = (handle, kafka::api()) {
            // SAFETY: nothing else holds the handle; the deliveries box is freed after this.
            unsafe { (common.destroy)(h.0) };
        }
    }
}
