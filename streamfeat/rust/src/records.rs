//! `message_columns`: a batch of confluent-kafka messages -> the columns the pipeline
//! reads (offsets, values, timestamps), in one call instead of a Python loop that calls
//! four methods per message.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyRange};

/// `(offsets, values, timestamps, stop, newest)`: the columns of `messages` up to the
/// first one whose `error()` is not `None` (`stop` is its index, or `None` when none has
/// one). A value of `None` becomes `b""`; a timestamp is `None` unless the message has
/// one (type not `TIMESTAMP_NOT_AVAILABLE`, value >= 0); `newest` is the largest of them
/// (`None` without any). The offsets of one partition only increase, so when the last
/// one is the first plus the count less one they are every offset between, and come as
/// a `range` without a call per message; otherwise (a gap: transaction markers,
/// compaction), as a list.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn message_columns<'py>(
    py: Python<'py>,
    messages: &Bound<'py, PyList>,
) -> PyResult<(
    Bound<'py, PyAny>,
    Bound<'py, PyList>,
    Bound<'py, PyList>,
    Option<usize>,
    Option<i64>,
)> {
    let (error, offset, value, timestamp) = (
        intern!(py, "error"),
        intern!(py, "offset"),
        intern!(py, "value"),
        intern!(py, "timestamp"),
    );
    let size = messages.len();
    let mut values = Vec::with_capacity(size);
    let mut stamps = Vec::with_capacity(size);
    let empty = PyBytes::new(py, b"").into_any();
    let mut stop = None;
    let mut newest: Option<i64> = None;
    for (i, message) in messages.iter().enumerate() {
        if !message.call_method0(error)?.is_none() {
            stop = Some(i);
            break;
        }
        let v = message.call_method0(value)?;
        values.push(if v.is_none() { empty.clone() } else { v });
        let (kind, stamp): (i64, i64) = message.call_method0(timestamp)?.extract()?;
        stamps.push(if kind != 0 && stamp >= 0 {
            newest = Some(newest.map_or(stamp, |n| n.max(stamp)));
            Some(stamp)
        } else {
            None
        });
    }
    let read = values.len();
    let offsets = if read == 0 {
        PyList::empty(py).into_any()
    } else {
        let first: i64 = messages.get_item(0)?.call_method0(offset)?.extract()?;
        let last: i64 = messages
            .get_item(read - 1)?
            .call_method0(offset)?
            .extract()?;
        if last - first + 1 == read as i64 {
            PyRange::new(py, first as isize, last as isize + 1)?.into_any()
        } else {
            let mut all = Vec::with_capacity(read);
            for message in messages.iter().take(read) {
                all.push(message.call_method0(offset)?);
            }
            PyList::new(py, all)?.into_any()
        }
    };
    Ok((
        offsets,
        PyList::new(py, values)?,
        PyList::new(py, stamps)?,
        stop,
        newest,
    ))
}
