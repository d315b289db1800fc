//! Big-endian byte layouts shared with `operators/codec.py`: the same bytes, so a state
//! written by either implementation is read by the other.

/// A malformed state (becomes `operators.codec.StateFormatError` in Python).
#[derive(Debug)]
pub struct FormatError(pub String);

pub type Decoded<T> = Result<T, FormatError>;

pub fn truncated(what: &str) -> FormatError {
    FormatError(format!("{what}: truncated state"))
}

/// Appends big-endian fields to a buffer.
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    #[inline]
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// A zigzag LEB128 varint (`encode_varints`): 1 byte for -64..63, at most 10.
    #[inline]
    pub fn varint(&mut self, v: i64) {
        let mut u = ((v << 1) ^ (v >> 63)) as u64;
        while u >= 0x80 {
            self.buf.push((u as u8 & 0x7F) | 0x80);
            u >>= 7;
        }
        self.buf.push(u as u8);
    }
    #[inline]
    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// Start a blob (`encode_blob`: u32 length, then the bytes) written in place: the
    /// length is filled in by [`Writer::end_blob`] from what was written after it, so a
    /// section needs no buffer of its own.
    #[inline]
    pub fn start_blob(&mut self) -> usize {
        let at = self.buf.len();
        self.u32(0);
        at
    }
    #[inline]
    pub fn end_blob(&mut self, at: usize) {
        let size = (self.buf.len() - at - 4) as u32;
        self.buf[at..at + 4].copy_from_slice(&size.to_be_bytes());
    }
    /// Reserve one byte for a varint length (`encode_length`); `end_vblob` writes it.
    #[inline]
    pub fn start_vblob(&mut self) -> usize {
        let at = self.buf.len();
        self.buf.push(0);
        at
    }
    /// Write the length of what followed `start_vblob` as a varint: in the reserved byte
    /// when under 64, else the blob moves up by the extra bytes (rare: a large blob).
    #[inline]
    pub fn end_vblob(&mut self, at: usize) {
        let size = self.buf.len() - at - 1;
        if size < 64 {
            self.buf[at] = (size << 1) as u8;
            return;
        }
        // the zigzag varint of a length >= 64: `varint` without a buffer of its own
        let (mut head, mut n, mut u) = ([0u8; 10], 0, (size as u64) << 1);
        while u >= 0x80 {
            head[n] = (u as u8 & 0x7F) | 0x80;
            u >>= 7;
            n += 1;
        }
        head[n] = u as u8;
        let extra = n;
        self.buf.resize(self.buf.len() + extra, 0);
        self.buf.copy_within(at + 1..at + 1 + size, at + 1 + extra);
        self.buf[at..at + 1 + extra].copy_from_slice(&head[..=n]);
    }
}

/// A cursor over a state's bytes; every read checks the length.
pub struct Reader<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], what: &'static str) -> Self {
        Reader { data, pos: 0, what }
    }
    fn take(&mut self, n: usize) -> Decoded<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| truncated(self.what))?;
        if end > self.data.len() {
            return Err(truncated(self.what));
        }
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    pub fn u8(&mut self) -> Decoded<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Decoded<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub fn i64(&mut self) -> Decoded<i64> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    pub fn f64(&mut self) -> Decoded<f64> {
        Ok(f64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    /// A zigzag LEB128 varint (`decode_varints`).
    pub fn varint(&mut self) -> Decoded<i64> {
        let (mut u, mut shift) = (0u64, 0u32);
        loop {
            let byte = self.u8()?;
            if shift == 63 && byte > 1 {
                return Err(FormatError(format!(
                    "{}: varint longer than 64 bits",
                    self.what
                )));
            }
            u |= ((byte & 0x7F) as u64) << shift;
            if byte < 0x80 {
                break;
            }
            shift += 7;
        }
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    /// A length written by `end_vblob` (`read_length`).
    pub fn length(&mut self) -> Decoded<usize> {
        let n = self.varint()?;
        if n < 0 {
            return Err(FormatError(format!("{}: negative length {n}", self.what)));
        }
        Ok(n as usize)
    }
    /// A blob after a varint length (`read_length`).
    pub fn vblob(&mut self) -> Decoded<&'a [u8]> {
        let n = self.length()?;
        self.take(n)
    }
    /// A u32-length-prefixed blob (`read_blob`).
    pub fn blob(&mut self) -> Decoded<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }
    /// Raise unless the cursor is exactly at the end (`check_end`).
    pub fn end(&self) -> Decoded<()> {
        if self.pos != self.data.len() {
            return Err(FormatError(format!(
                "{}: {} trailing bytes in state",
                self.what,
                self.data.len() - self.pos
            )));
        }
        Ok(())
    }
    pub fn version(&mut self, expected: u8) -> Decoded<()> {
        if self.data.is_empty() {
            return Err(FormatError(format!(
                "{}: empty state, expected format version {expected}",
                self.what
            )));
        }
        let v = self.u8()?;
        if v != expected {
            return Err(FormatError(format!(
                "{}: state format version {v}, this code reads {expected}",
                self.what
            )));
        }
        Ok(())
    }
}

// Value-run kinds of `encode_values`.
pub const RUN_FLOAT: u8 = 1;
pub const RUN_NONE: u8 = 3;
// Tag of a float in `encode_value`.
pub const TAG_FLOAT: u8 = 4;
