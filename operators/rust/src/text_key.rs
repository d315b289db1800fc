//! [`TextKey`]: a string key of a hash table kept inside the table's slot when short.

/// A string of up to 22 bytes (most ids) inside the hash table's slot, a longer one on the
/// heap. A lookup that finds the string compares it where the probe already read, not in
/// an allocation of its own: with tens of thousands of strings, that allocation is a cache
/// miss per lookup (`memcmp` was 3.3 % of the main thread of the pipeline simulation late
/// in a run in the distinct counts' hash cache, stop 47). Look keys up by `&str`
/// (`Borrow<str>`). The decoder's interned entity keys gained nothing from it (stop 47).
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum TextKey {
    /// The length and the bytes, zero after it (so equal strings are equal keys).
    Inline(u8, [u8; TextKey::INLINE]),
    Heap(Box<str>),
}

impl TextKey {
    const INLINE: usize = 22;

    pub(crate) fn new(text: &str) -> Self {
        if text.len() <= Self::INLINE {
            let mut bytes = [0u8; Self::INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            TextKey::Inline(text.len() as u8, bytes)
        } else {
            TextKey::Heap(Box::from(text))
        }
    }
}

impl std::borrow::Borrow<str> for TextKey {
    #[inline]
    fn borrow(&self) -> &str {
        match self {
            // SAFETY: the first `len` bytes were copied from a `str` (`TextKey::new`)
            TextKey::Inline(len, bytes) => unsafe {
                std::str::from_utf8_unchecked(&bytes[..*len as usize])
            },
            TextKey::Heap(text) => text,
        }
    }
}

impl std::hash::Hash for TextKey {
    /// As the `str` it holds (`Borrow<str>` lookups).
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::borrow::Borrow::<str>::borrow(self).hash(state)
    }
}
