//! The journal's staging buffer: entries of a round are gathered here and reach the file
//! in one write, and direct writes need their memory aligned to the block size.

/// Direct writes' alignment: of their offsets, lengths and buffers.
pub(super) const BLOCK: usize = 4096;

/// Bytes staged at most before they are written out, to bound the copy.
const STAGE_MAX: usize = 256 << 10;

/// Staging memory at a `BLOCK`-aligned address, as direct writes need: `Vec<u8>` does
/// not promise one, so the buffer is a block larger and used from an aligned offset.
pub(super) struct Stage {
    buf: Box<[u8]>,
    start: usize,
    pub len: usize,
}

impl Stage {
    pub fn empty() -> Stage {
        Stage {
            buf: Box::new([]),
            start: 0,
            len: 0,
        }
    }

    pub fn allocate(&mut self) {
        if self.buf.is_empty() {
            self.buf = vec![0u8; STAGE_MAX + BLOCK].into_boxed_slice();
            self.start = self.buf.as_ptr().align_offset(BLOCK);
        }
        self.len = 0;
    }

    pub fn room(&self) -> usize {
        STAGE_MAX - self.len
    }

    pub fn push(&mut self, bytes: &[u8]) {
        let at = self.start + self.len;
        self.buf[at..at + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The staged bytes and zeros after them up to a block boundary.
    pub fn padded(&mut self) -> &[u8] {
        let end = self.len.next_multiple_of(BLOCK);
        self.buf[self.start + self.len..self.start + end].fill(0);
        &self.buf[self.start..self.start + end]
    }

    /// Drops the first `n` staged bytes, moving the rest to the front.
    pub fn consume(&mut self, n: usize) {
        let s = self.start;
        self.buf.copy_within(s + n..s + self.len, s);
        self.len -= n;
    }
}
