//! [`HashedTexts`]: a decoded string column handed over as its texts in one buffer with
//! each text's `hash64`, for a field that only distinct counts read. No Python `str` is
//! made per value: the native apply reads the hashes (and the texts, for events it keeps)
//! without the GIL, and any other reader gets `str`s made on demand, as from a list.

use crate::hll::Hll;
use crate::text_key::TextKey;
use pyo3::exceptions::PyIndexError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use std::collections::HashMap;

/// `hash64` of texts seen lately (ids repeat a lot), bounded: cleared when full.
pub(crate) type TextHashes = HashMap<TextKey, u64, foldhash::fast::RandomState>;
pub(crate) const TEXT_HASHES_SIZE: usize = 1 << 16;

/// `Hll::hash(text)` through `cache`.
#[inline]
pub(crate) fn cached_hash(cache: &mut TextHashes, text: &str) -> u64 {
    if let Some(h) = cache.get(text) {
        return *h;
    }
    if cache.len() >= TEXT_HASHES_SIZE {
        cache.clear();
    }
    let h = Hll::hash(text);
    cache.insert(TextKey::new(text), h);
    h
}

/// A column of texts: `text(i)` is `buf[ends[i - 1]..ends[i]]`, its `hash64` `hashes[i]`.
/// A read-only sequence of `str` to Python (`len`, indexing, iteration).
#[pyclass(module = "operators._native", frozen, sequence)]
pub struct HashedTexts {
    buf: String,
    ends: Vec<usize>,
    hashes: Vec<u64>,
}

impl HashedTexts {
    /// The texts of `texts` with their hashes (through `cache`).
    pub(crate) fn build<'a>(
        texts: impl ExactSizeIterator<Item = &'a str>,
        cache: &mut TextHashes,
    ) -> Self {
        let n = texts.len();
        let mut out = HashedTexts {
            buf: String::with_capacity(n * 8),
            ends: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
        };
        for text in texts {
            out.buf.push_str(text);
            out.ends.push(out.buf.len());
            out.hashes.push(cached_hash(cache, text));
        }
        out
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    #[inline]
    pub(crate) fn text(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    #[inline]
    pub(crate) fn hashes(&self) -> &[u64] {
        &self.hashes
    }
}

#[pymethods]
impl HashedTexts {
    fn __len__(&self) -> usize {
        self.len()
    }

    fn __getitem__<'py>(&self, py: Python<'py>, index: isize) -> PyResult<Bound<'py, PyString>> {
        let n = self.len() as isize;
        let i = if index < 0 { index + n } else { index };
        if !(0..n).contains(&i) {
            return Err(PyIndexError::new_err("HashedTexts index out of range"));
        }
        Ok(PyString::new(py, self.text(i as usize)))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let list = PyList::new(py, (0..self.len()).map(|i| self.text(i)))?;
        Ok(list.try_iter()?.into_any())
    }

    /// The `hash64` of each text (what `ApproxCountDistinct` registers).
    fn hash_values(&self) -> Vec<u64> {
        self.hashes.clone()
    }

    fn __repr__(&self) -> String {
        format!("HashedTexts(<{} texts>)", self.len())
    }
}
