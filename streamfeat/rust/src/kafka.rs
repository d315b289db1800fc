//! `KafkaPartitionConsumer`: one topic-partition read through librdkafka directly, each
//! batch handed to Python as columns — offsets, the record values in ONE `bytes` with their
//! end positions, the timestamps — instead of a confluent-kafka `Message` object (and a
//! `bytes` value, a `str` topic, a `bytes` key) per record, made and freed under the GIL.
//!
//! The library is the one confluent-kafka loaded (its wheel's bundled librdkafka, or the
//! system's): opened again by path with `dlopen`, which hands back the same loaded copy, so
//! the process still holds one librdkafka. Its functions are looked up by name, and only
//! the public ABI is used: the functions below and the layouts of `rd_kafka_message_t`
//! and `rd_kafka_topic_partition_t` (stable since librdkafka 1.0). The consumer is set up
//! as confluent-kafka's `Consumer` sets up its own (`rd_kafka_poll_set_consumer`, then
//! batches from the consumer queue).

use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyRange};
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::{Mutex, OnceLock};

const RD_KAFKA_CONSUMER: c_int = 1;
const CONF_OK: c_int = 0;
const OFFSET_BEGINNING: i64 = -2;
const ERR_PARTITION_EOF: c_int = -191;
const RTLD_NOW: c_int = 2;
/// Messages asked of librdkafka per call (a batch of more takes several calls).
const CHUNK: usize = 8192;

#[repr(C)]
struct RdMessage {
    err: c_int,
    rkt: *mut c_void,
    partition: i32,
    payload: *const u8,
    len: usize,
    key: *const c_void,
    key_len: usize,
    offset: i64,
    _private: *mut c_void,
}

#[repr(C)]
struct RdTopicPartition {
    topic: *mut c_char,
    partition: i32,
    offset: i64,
    metadata: *mut c_void,
    metadata_size: usize,
    opaque: *mut c_void,
    err: c_int,
    _private: *mut c_void,
}

#[repr(C)]
struct RdTopicPartitionList {
    cnt: c_int,
    size: c_int,
    elems: *mut RdTopicPartition,
}

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *const c_char;
}

/// The librdkafka functions used, looked up once.
pub(crate) struct Api {
    version: unsafe extern "C" fn() -> c_int,
    conf_new: unsafe extern "C" fn() -> *mut c_void,
    conf_set: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *mut c_char, usize) -> c_int,
    conf_destroy: unsafe extern "C" fn(*mut c_void),
    new: unsafe extern "C" fn(c_int, *mut c_void, *mut c_char, usize) -> *mut c_void,
    pub(crate) destroy: unsafe extern "C" fn(*mut c_void),
    poll_set_consumer: unsafe extern "C" fn(*mut c_void) -> c_int,
    queue_get_consumer: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    queue_destroy: unsafe extern "C" fn(*mut c_void),
    tpl_new: unsafe extern "C" fn(c_int) -> *mut RdTopicPartitionList,
    tpl_add: unsafe extern "C" fn(*mut RdTopicPartitionList, *const c_char, i32) -> *mut RdTopicPartition,
    tpl_destroy: unsafe extern "C" fn(*mut RdTopicPartitionList),
    assign: unsafe extern "C" fn(*mut c_void, *const RdTopicPartitionList) -> c_int,
    position: unsafe extern "C" fn(*mut c_void, *mut RdTopicPartitionList) -> c_int,
    consume_batch_queue: unsafe extern "C" fn(*mut c_void, c_int, *mut *mut RdMessage, usize) -> isize,
    message_destroy: unsafe extern "C" fn(*mut RdMessage),
    message_timestamp: unsafe extern "C" fn(*const RdMessage, *mut c_int) -> i64,
    err2str: unsafe extern "C" fn(c_int) -> *const c_char,
    get_watermark_offsets: unsafe extern "C" fn(*mut c_void, *const c_char, i32, *mut i64, *mut i64) -> c_int,
    query_watermark_offsets:
        unsafe extern "C" fn(*mut c_void, *const c_char, i32, *mut i64, *mut i64, c_int) -> c_int,
    consumer_close: unsafe extern "C" fn(*mut c_void) -> c_int,
}

static API: OnceLock<Result<(String, Api), String>> = OnceLock::new();

/// A shared library opened by path; never closed, so what it hands out stays valid for the
/// life of the process.
pub(crate) struct Library {
    handle: *mut c_void,
    path: String,
}

impl Library {
    pub(crate) fn open(path: &str) -> Result<Self, String> {
        let c_path = CString::new(path).map_err(|e| e.to_string())?;
        // SAFETY: dlopen/dlerror as documented.
        unsafe {
            let handle = dlopen(c_path.as_ptr(), RTLD_NOW);
            if handle.is_null() {
                let why = dlerror();
                let why = if why.is_null() { "unknown".into() } else { CStr::from_ptr(why).to_string_lossy() };
                return Err(format!("cannot open {path}: {why}"));
            }
            Ok(Self { handle, path: path.to_string() })
        }
    }

    /// The function `name` as `F`, which must be a function pointer type of its C signature.
    ///
    /// # Safety
    /// `F` must match the function's declaration in the library.
    pub(crate) unsafe fn symbol<F: Copy>(&self, name: &str) -> Result<F, String> {
        assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
        let c_name = CString::new(name).map_err(|e| e.to_string())?;
        let p = dlsym(self.handle, c_name.as_ptr());
        if p.is_null() {
            return Err(format!("{} has no {name}", self.path));
        }
        Ok(std::mem::transmute_copy::<*mut c_void, F>(&p))
    }
}

fn load(path: &str) -> Result<Api, String> {
    let lib = Library::open(path)?;
    // SAFETY: each type below is the function's librdkafka declaration.
    unsafe {
        let api = Api {
            version: lib.symbol("rd_kafka_version")?,
            conf_new: lib.symbol("rd_kafka_conf_new")?,
            conf_set: lib.symbol("rd_kafka_conf_set")?,
            conf_destroy: lib.symbol("rd_kafka_conf_destroy")?,
            new: lib.symbol("rd_kafka_new")?,
            destroy: lib.symbol("rd_kafka_destroy")?,
            poll_set_consumer: lib.symbol("rd_kafka_poll_set_consumer")?,
            queue_get_consumer: lib.symbol("rd_kafka_queue_get_consumer")?,
            queue_destroy: lib.symbol("rd_kafka_queue_destroy")?,
            tpl_new: lib.symbol("rd_kafka_topic_partition_list_new")?,
            tpl_add: lib.symbol("rd_kafka_topic_partition_list_add")?,
            tpl_destroy: lib.symbol("rd_kafka_topic_partition_list_destroy")?,
            assign: lib.symbol("rd_kafka_assign")?,
            position: lib.symbol("rd_kafka_position")?,
            consume_batch_queue: lib.symbol("rd_kafka_consume_batch_queue")?,
            message_destroy: lib.symbol("rd_kafka_message_destroy")?,
            message_timestamp: lib.symbol("rd_kafka_message_timestamp")?,
            err2str: lib.symbol("rd_kafka_err2str")?,
            get_watermark_offsets: lib.symbol("rd_kafka_get_watermark_offsets")?,
            query_watermark_offsets: lib.symbol("rd_kafka_query_watermark_offsets")?,
            consumer_close: lib.symbol("rd_kafka_consumer_close")?,
        };
        // The message and topic-partition layouts above are those of librdkafka >= 1.0.
        if (api.version)() < 0x0100_0000 {
            return Err(format!("{path} is librdkafka older than 1.0"));
        }
        Ok(api)
    }
}

/// A new librdkafka client of `kind` (0 producer, 1 consumer) with `settings`; `configure`
/// may set more on the configuration (callbacks) before the client takes it. `what` names
/// the client in errors.
///
/// # Safety
/// What `configure` does to the configuration must be valid librdkafka use.
pub(crate) unsafe fn new_client(
    api: &Api,
    kind: c_int,
    settings: &[(String, String)],
    what: &str,
    configure: impl FnOnce(*mut c_void),
) -> PyResult<*mut c_void> {
    let mut errstr = vec![0 as c_char; 512];
    let conf = (api.conf_new)();
    for (name, value) in settings {
        let (n, v) = match (CString::new(name.as_str()), CString::new(value.as_str())) {
            (Ok(n), Ok(v)) => (n, v),
            _ => {
                (api.conf_destroy)(conf);
                return Err(PyValueError::new_err(format!("setting {name:?} holds a NUL byte")));
            }
        };
        if (api.conf_set)(conf, n.as_ptr(), v.as_ptr(), errstr.as_mut_ptr(), errstr.len()) != CONF_OK {
            (api.conf_destroy)(conf);
            let why = CStr::from_ptr(errstr.as_ptr()).to_string_lossy();
            return Err(PyValueError::new_err(format!("invalid {what} setting {name}={value}: {why}")));
        }
    }
    configure(conf);
    let rk = (api.new)(kind, conf, errstr.as_mut_ptr(), errstr.len());
    if rk.is_null() {
        (api.conf_destroy)(conf);
        let why = CStr::from_ptr(errstr.as_ptr()).to_string_lossy();
        return Err(PyValueError::new_err(format!("cannot create a Kafka {what}: {why}")));
    }
    Ok(rk)
}

pub(crate) fn api() -> PyResult<&'static Api> {
    match API.get() {
        Some(Ok((_, api))) => Ok(api),
        Some(Err(why)) => Err(PyOSError::new_err(why.clone())),
        None => Err(PyRuntimeError::new_err("load_librdkafka(path) was not called")),
    }
}

/// Open librdkafka at `path` for `KafkaPartitionConsumer` (once per process; later calls
/// return the first call's answer). Returns librdkafka's version number; raises OSError
/// when the library cannot be opened or lacks a function.
#[pyfunction]
pub fn load_librdkafka(path: &str) -> PyResult<i64> {
    match API.get_or_init(|| load(path).map(|api| (path.to_string(), api))) {
        // SAFETY: a function of the loaded library, without arguments.
        Ok((_, api)) => Ok(unsafe { (api.version)() } as i64),
        Err(why) => Err(PyOSError::new_err(why.clone())),
    }
}

pub(crate) fn err_text(api: &Api, code: c_int) -> String {
    // SAFETY: rd_kafka_err2str returns a static string for any code.
    unsafe { CStr::from_ptr((api.err2str)(code)).to_string_lossy().into_owned() }
}

/// The handles of one open consumer (raw pointers, used under the struct's mutex).
struct Handles {
    rk: *mut c_void,
    queue: *mut c_void,
}

// SAFETY: librdkafka handles may be used from any thread; the mutex serialises our use.
unsafe impl Send for Handles {}

/// Messages taken from librdkafka, destroyed when dropped.
struct Taken<'a> {
    api: &'a Api,
    messages: Vec<*mut RdMessage>,
}

// SAFETY: the messages are owned here and only read; librdkafka allows that from any thread.
unsafe impl Send for Taken<'_> {}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        for &m in &self.messages {
            // SAFETY: each pointer came from consume_batch_queue and is destroyed once.
            unsafe { (self.api.message_destroy)(m) };
        }
    }
}

/// One batch as columns, gathered without the GIL.
struct Columns {
    offsets: Vec<i64>,
    arena: Vec<u8>,
    ends: Vec<i64>,
    stamps: Vec<i64>,
    newest: Option<i64>,
    error: Option<(i32, String)>,
}

fn array_of<'py>(py: Python<'py>, values: &[i64]) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: i64 is plain old data; the bytes are copied at once.
    let bytes =
        unsafe { std::slice::from_raw_parts(values.as_ptr() as *const u8, std::mem::size_of_val(values)) };
    py.import("array")?.getattr("array")?.call1(("q", PyBytes::new(py, bytes)))
}

/// A consumer of one topic-partition from a start offset (`None`: the beginning), with
/// the given librdkafka settings (`(name, value)` text pairs, `group.id` among them).
#[pyclass(module = "streamfeat._store_native")]
pub struct KafkaPartitionConsumer {
    handles: Mutex<Option<Handles>>,
    topic: CString,
    partition: i32,
}

impl KafkaPartitionConsumer {
    fn with_handles<T>(&self, f: impl FnOnce(&Api, &Handles) -> PyResult<T>) -> PyResult<T> {
        let api = api()?;
        let guard = self.handles.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(h) => f(api, h),
            None => Err(PyRuntimeError::new_err("the consumer is closed")),
        }
    }
}

#[pymethods]
impl KafkaPartitionConsumer {
    #[new]
    #[pyo3(signature = (settings, topic, partition, start))]
    fn new(settings: Vec<(String, String)>, topic: &str, partition: i32, start: Option<i64>) -> PyResult<Self> {
        let api = api()?;
        let topic_c = CString::new(topic).map_err(|e| PyValueError::new_err(e.to_string()))?;
        // SAFETY: librdkafka's documented construction sequence; every pointer is checked.
        unsafe {
            let rk = new_client(api, RD_KAFKA_CONSUMER, &settings, "consumer", |_| ())?;
            (api.poll_set_consumer)(rk);
            let queue = (api.queue_get_consumer)(rk);
            let list = (api.tpl_new)(1);
            let tp = (api.tpl_add)(list, topic_c.as_ptr(), partition);
            (*tp).offset = start.unwrap_or(OFFSET_BEGINNING);
            let err = (api.assign)(rk, list);
            (api.tpl_destroy)(list);
            if err != 0 {
                if !queue.is_null() {
                    (api.queue_destroy)(queue);
                }
                (api.consumer_close)(rk);
                (api.destroy)(rk);
                return Err(PyValueError::new_err(format!(
                    "cannot assign {topic}/{partition}: {}",
                    err_text(api, err)
                )));
            }
            Ok(Self { handles: Mutex::new(Some(Handles { rk, queue })), topic: topic_c, partition })
        }
    }

    /// Up to `max_records` records (possibly none), waiting at most `timeout_ms` for the
    /// first. Returns `(offsets, values, ends, timestamps, newest, error)`: the offsets (a
    /// `range` when they have no gap, else an `array('q')`), every value in one `bytes`
    /// (record i's is `values[ends[i-1]:ends[i]]`, a missing value empty), `ends` and the
    /// timestamps as `array('q')` (-1 where a record has none), the newest timestamp or
    /// None, and the first error other than end-of-partition as `(code, text)` (records
    /// after it are dropped; the caller raises) or None.
    #[allow(clippy::type_complexity)]
    fn read<'py>(
        &self,
        py: Python<'py>,
        max_records: usize,
        timeout_ms: i32,
    ) -> PyResult<(
        Bound<'py, PyAny>,
        Bound<'py, PyBytes>,
        Bound<'py, PyAny>,
        Bound<'py, PyAny>,
        Option<i64>,
        Option<(i32, String)>,
    )> {
        let columns = self.with_handles(|api, handles| {
            let queue = handles.queue as usize;
            Ok(py.detach(move || {
                let queue = queue as *mut c_void;
                let mut taken = Taken { api, messages: Vec::new() };
                let mut wait = timeout_ms;
                while taken.messages.len() < max_records {
                    let want = CHUNK.min(max_records - taken.messages.len());
                    let have = taken.messages.len();
                    taken.messages.reserve(want);
                    // SAFETY: room for `want` more pointers was reserved; librdkafka writes
                    // `got` of them, which then become owned (and destroyed) by `taken`.
                    let got = unsafe {
                        let got = (api.consume_batch_queue)(queue, wait, taken.messages.as_mut_ptr().add(have), want);
                        if got > 0 {
                            taken.messages.set_len(have + got as usize);
                        }
                        got
                    };
                    if got < want as isize {
                        break; // nothing more waiting (or an error: treated as none)
                    }
                    wait = 0;
                }
                gather(api, &taken.messages)
            }))
        })?;
        let offsets = match (columns.offsets.first(), columns.offsets.last()) {
            (Some(&first), Some(&last)) if last - first + 1 == columns.offsets.len() as i64 => {
                PyRange::new(py, first as isize, last as isize + 1)?.into_any()
            }
            _ => array_of(py, &columns.offsets)?,
        };
        Ok((
            offsets,
            PyBytes::new(py, &columns.arena),
            array_of(py, &columns.ends)?,
            array_of(py, &columns.stamps)?,
            columns.newest,
            columns.error,
        ))
    }

    /// The partition's high watermark as the broker reports it now (the offset after
    /// the last record), waiting at most `timeout_ms`.
    fn end_offset(&self, py: Python<'_>, timeout_ms: i32) -> PyResult<i64> {
        let topic = &self.topic;
        let partition = self.partition;
        self.with_handles(|api, handles| {
            let rk = handles.rk as usize;
            let (err, high) = py.detach(move || {
                let (mut low, mut high) = (0i64, 0i64);
                // SAFETY: a live handle and a NUL-terminated topic.
                let err = unsafe {
                    (api.query_watermark_offsets)(rk as *mut c_void, topic.as_ptr(), partition, &mut low, &mut high, timeout_ms)
                };
                (err, high)
            });
            if err != 0 {
                return Err(PyOSError::new_err(err_text(api, err)));
            }
            Ok(high)
        })
    }

    /// The high watermark last reported with fetched data (no request), or None.
    fn cached_end_offset(&self) -> PyResult<Option<i64>> {
        self.with_handles(|api, handles| {
            let (mut low, mut high) = (-1i64, -1i64);
            // SAFETY: a live handle and a NUL-terminated topic.
            let err = unsafe {
                (api.get_watermark_offsets)(handles.rk, self.topic.as_ptr(), self.partition, &mut low, &mut high)
            };
            Ok(if err != 0 || high < 0 { None } else { Some(high) })
        })
    }

    /// The offset the consumer reads next (past transaction markers), or None.
    fn position(&self) -> PyResult<Option<i64>> {
        self.with_handles(|api, handles| {
            // SAFETY: a one-element list made and destroyed here.
            unsafe {
                let list = (api.tpl_new)(1);
                (api.tpl_add)(list, self.topic.as_ptr(), self.partition);
                let err = (api.position)(handles.rk, list);
                let offset = (*(*list).elems).offset;
                (api.tpl_destroy)(list);
                if err != 0 {
                    return Err(PyOSError::new_err(err_text(api, err)));
                }
                Ok(if offset >= 0 { Some(offset) } else { None })
            }
        })
    }

    /// Leave the partition and free the consumer (idempotent).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let api = api()?;
        let handles = self.handles.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = handles {
            let (rk, queue) = (h.rk as usize, h.queue as usize);
            py.detach(move || {
                // SAFETY: the handles are taken out of the struct, so used here last.
                unsafe {
                    if queue != 0 {
                        (api.queue_destroy)(queue as *mut c_void);
                    }
                    (api.consumer_close)(rk as *mut c_void);
                    (api.destroy)(rk as *mut c_void);
                }
            });
        }
        Ok(())
    }
}

impl Drop for KafkaPartitionConsumer {
    fn drop(&mut self) {
        let handles = self.handles.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let (Some(h), Ok(api)) = (handles, api()) {
            // SAFETY: as in close(); nothing else holds the handles.
            unsafe {
                if !h.queue.is_null() {
                    (api.queue_destroy)(h.queue);
                }
                (api.consumer_close)(h.rk);
                (api.destroy)(h.rk);
            }
        }
    }
}

/// The columns of `messages` up to the first error other than end-of-partition.
fn gather(api: &Api, messages: &[*mut RdMessage]) -> Columns {
    let mut total = 0usize;
    for &m in messages {
        // SAFETY: live messages from consume_batch_queue.
        let m = unsafe { &*m };
        if m.err == 0 && !m.payload.is_null() {
            total += m.len;
        }
    }
    let mut out = Columns {
        offsets: Vec::with_capacity(messages.len()),
        arena: Vec::with_capacity(total),
        ends: Vec::with_capacity(messages.len()),
        stamps: Vec::with_capacity(messages.len()),
        newest: None,
        error: None,
    };
    for &ptr in messages {
        // SAFETY: as above; a payload of `len` bytes when not null.
        let m = unsafe { &*ptr };
        if m.err != 0 {
            if m.err == ERR_PARTITION_EOF {
                continue;
            }
            // An error message's payload, when present, is its text.
            let text = if !m.payload.is_null() && m.len > 0 {
                String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(m.payload, m.len) }).into_owned()
            } else {
                err_text(api, m.err)
            };
            out.error = Some((m.err, text));
            break;
        }
        if !m.payload.is_null() {
            out.arena.extend_from_slice(unsafe { std::slice::from_raw_parts(m.payload, m.len) });
        }
        out.ends.push(out.arena.len() as i64);
        out.offsets.push(m.offset);
        let mut kind: c_int = 0;
        // SAFETY: a live message and a valid out-pointer.
        let stamp = unsafe { (api.message_timestamp)(ptr, &mut kind) };
        if kind != 0 && stamp >= 0 {
            out.newest = Some(out.newest.map_or(stamp, |n| n.max(stamp)));
            out.stamps.push(stamp);
        } else {
            out.stamps.push(-1);
        }
    }
    out
}

/// The path `load_librdkafka` opened, once it succeeded.
pub(crate) fn loaded_path() -> Option<&'static str> {
    match API.get() {
        Some(Ok((path, _))) => Some(path.as_str()),
        _ => None,
    }
}
