//! gzip (RFC 1952) and raw DEFLATE (RFC 1951) decoding with a hard output limit,
//! in the manner of zlib's `puff.c`. Never panics or allocates past the limit on any input; corrupt data is an error.

use std::fmt;
use std::time::Instant;

/// Longest Huffman code.
const MAX_BITS: usize = 15;
/// Literal/length and distance symbol counts of a dynamic block.
const MAX_LCODES: usize = 286;
const MAX_DCODES: usize = 30;
/// Fixed-code symbol counts.
const FIX_LCODES: usize = 288;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// The output would pass the limit.
    TooLarge,
    /// The deadline passed while decoding.
    Timeout,
    /// Not valid DEFLATE or gzip data.
    Corrupt(&'static str),
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::TooLarge => f.write_str("decoded data exceeds the limit"),
            InflateError::Timeout => f.write_str("decoding ran out of time"),
            InflateError::Corrupt(why) => write!(f, "corrupt compressed data: {why}"),
        }
    }
}

impl std::error::Error for InflateError {}

type Result<T> = std::result::Result<T, InflateError>;

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    count: [u16; MAX_BITS + 1],
    symbol: Vec<u16>,
}

impl Huffman {
    /// Builds the code from per-symbol lengths. Returns it with 0 if complete,
    /// > 0 if incomplete, < 0 if over-subscribed.
    fn new(lengths: &[u8]) -> (Huffman, i32) {
        let mut count = [0u16; MAX_BITS + 1];
        for &len in lengths {
            count[usize::from(len).min(MAX_BITS)] += 1;
        }
        let mut h = Huffman {
            count,
            symbol: vec![0; lengths.len()],
        };
        if usize::from(count[0]) == lengths.len() {
            return (h, 0);
        }
        let mut left: i32 = 1;
        for &n in &count[1..] {
            left <<= 1;
            left -= i32::from(n);
            if left < 0 {
                return (h, left);
            }
        }
        let mut offsets = [0usize; MAX_BITS + 1];
        for len in 1..MAX_BITS {
            offsets[len + 1] = offsets[len] + usize::from(count[len]);
        }
        for (symbol, &len) in lengths.iter().enumerate() {
            if len != 0 {
                let slot = &mut offsets[usize::from(len)];
                if let Some(s) = h.symbol.get_mut(*slot) {
                    *s = symbol as u16;
                }
                *slot += 1;
            }
        }
        (h, left)
    }
}

const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// Order in which code-length code lengths arrive.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

struct Inflater<'a> {
    input: &'a [u8],
    pos: usize,
    bit_buf: u32,
    bit_count: u32,
    out: Vec<u8>,
    /// Where this stream's output starts in `out` (distances never reach before it).
    start: usize,
    limit: usize,
    deadline: Option<Instant>,
}

impl Inflater<'_> {
    fn bits(&mut self, need: u32) -> Result<u32> {
        let mut value = self.bit_buf;
        while self.bit_count < need {
            let byte = *self
                .input
                .get(self.pos)
                .ok_or(InflateError::Corrupt("unexpected end of data"))?;
            self.pos += 1;
            value |= u32::from(byte) << self.bit_count;
            self.bit_count += 8;
        }
        self.bit_buf = value >> need;
        self.bit_count -= need;
        Ok(value & ((1u32 << need) - 1))
    }

    fn push(&mut self, byte: u8) -> Result<()> {
        if self.out.len() >= self.limit {
            return Err(InflateError::TooLarge);
        }
        self.out.push(byte);
        Ok(())
    }

    fn stored(&mut self) -> Result<()> {
        self.bit_buf = 0;
        self.bit_count = 0;
        let header = self
            .input
            .get(self.pos..self.pos + 4)
            .ok_or(InflateError::Corrupt("unexpected end of data"))?;
        let len = u16::from_le_bytes([header[0], header[1]]);
        let nlen = u16::from_le_bytes([header[2], header[3]]);
        if len != !nlen {
            return Err(InflateError::Corrupt("stored block length check failed"));
        }
        self.pos += 4;
        let len = usize::from(len);
        let data = self
            .input
            .get(self.pos..self.pos + len)
            .ok_or(InflateError::Corrupt("unexpected end of data"))?;
        if self.out.len() + len > self.limit {
            return Err(InflateError::TooLarge);
        }
        self.out.extend_from_slice(data);
        self.pos += len;
        Ok(())
    }

    fn decode(&mut self, h: &Huffman) -> Result<usize> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..=MAX_BITS {
            code |= self.bits(1)? as i32;
            let count = i32::from(h.count[len]);
            if code - count < first {
                let at = usize::try_from(index + (code - first))
                    .map_err(|_| InflateError::Corrupt("invalid code"))?;
                return h
                    .symbol
                    .get(at)
                    .map(|&s| usize::from(s))
                    .ok_or(InflateError::Corrupt("invalid code"));
            }
            index += count;
            first += count;
            first <<= 1;
            code <<= 1;
        }
        Err(InflateError::Corrupt("ran out of codes"))
    }

    fn codes(&mut self, lengths: &Huffman, distances: &Huffman) -> Result<()> {
        loop {
            let symbol = self.decode(lengths)?;
            if symbol < 256 {
                self.push(symbol as u8)?;
            } else if symbol == 256 {
                return Ok(());
            } else {
                let i = symbol - 257;
                let (&base, &extra) = LENGTH_BASE
                    .get(i)
                    .zip(LENGTH_EXTRA.get(i))
                    .ok_or(InflateError::Corrupt("invalid length symbol"))?;
                let len = usize::from(base) + self.bits(u32::from(extra))? as usize;
                let d = self.decode(distances)?;
                let (&base, &extra) = DIST_BASE
                    .get(d)
                    .zip(DIST_EXTRA.get(d))
                    .ok_or(InflateError::Corrupt("invalid distance symbol"))?;
                let dist = usize::from(base) + self.bits(u32::from(extra))? as usize;
                if dist > self.out.len() - self.start {
                    return Err(InflateError::Corrupt("distance too far back"));
                }
                if self.out.len() + len > self.limit {
                    return Err(InflateError::TooLarge);
                }
                for _ in 0..len {
                    let byte = self.out[self.out.len() - dist];
                    self.out.push(byte);
                }
            }
        }
    }

    fn fixed(&mut self) -> Result<()> {
        let mut lengths = [0u8; FIX_LCODES];
        for (symbol, len) in lengths.iter_mut().enumerate() {
            *len = match symbol {
                0..=143 => 8,
                144..=255 => 9,
                256..=279 => 7,
                _ => 8,
            };
        }
        let (lencode, _) = Huffman::new(&lengths);
        let (distcode, _) = Huffman::new(&[5u8; MAX_DCODES]);
        self.codes(&lencode, &distcode)
    }

    fn dynamic(&mut self) -> Result<()> {
        let nlen = self.bits(5)? as usize + 257;
        let ndist = self.bits(5)? as usize + 1;
        let ncode = self.bits(4)? as usize + 4;
        if nlen > MAX_LCODES || ndist > MAX_DCODES {
            return Err(InflateError::Corrupt("bad counts"));
        }
        let mut lengths = [0u8; MAX_LCODES + MAX_DCODES];
        for &slot in &CODE_LENGTH_ORDER[..ncode] {
            lengths[slot] = self.bits(3)? as u8;
        }
        let (lencode, err) = Huffman::new(&lengths[..19]);
        if err != 0 {
            return Err(InflateError::Corrupt("incomplete code-length code"));
        }
        let total = nlen + ndist;
        let mut index = 0;
        while index < total {
            let symbol = self.decode(&lencode)?;
            if symbol < 16 {
                lengths[index] = symbol as u8;
                index += 1;
                continue;
            }
            let (value, repeat) = match symbol {
                16 => {
                    let previous = *index
                        .checked_sub(1)
                        .and_then(|i| lengths.get(i))
                        .ok_or(InflateError::Corrupt("repeat with no first length"))?;
                    (previous, 3 + self.bits(2)? as usize)
                }
                17 => (0, 3 + self.bits(3)? as usize),
                _ => (0, 11 + self.bits(7)? as usize),
            };
            if index + repeat > total {
                return Err(InflateError::Corrupt("too many lengths"));
            }
            lengths[index..index + repeat].fill(value);
            index += repeat;
        }
        if lengths[256] == 0 {
            return Err(InflateError::Corrupt("no end-of-block code"));
        }
        let (lencode, err) = Huffman::new(&lengths[..nlen]);
        if err < 0 || (err > 0 && nlen - usize::from(lencode.count[0]) != 1) {
            return Err(InflateError::Corrupt("bad literal/length code"));
        }
        let (distcode, err) = Huffman::new(&lengths[nlen..total]);
        if err < 0 || (err > 0 && ndist - usize::from(distcode.count[0]) != 1) {
            return Err(InflateError::Corrupt("bad distance code"));
        }
        self.codes(&lencode, &distcode)
    }

    fn run(&mut self) -> Result<()> {
        loop {
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(InflateError::Timeout);
            }
            let last = self.bits(1)?;
            match self.bits(2)? {
                0 => self.stored()?,
                1 => self.fixed()?,
                2 => self.dynamic()?,
                _ => return Err(InflateError::Corrupt("invalid block type")),
            }
            if last == 1 {
                return Ok(());
            }
        }
    }
}

/// Decodes one raw DEFLATE stream from the start of `input`, appending to
/// `out` (at most `limit` bytes in all); returns how many input bytes it used.
fn inflate_into(
    input: &[u8],
    out: Vec<u8>,
    limit: usize,
    deadline: Option<Instant>,
) -> Result<(Vec<u8>, usize)> {
    let start = out.len();
    let mut state = Inflater {
        input,
        pos: 0,
        bit_buf: 0,
        bit_count: 0,
        out,
        start,
        limit,
        deadline,
    };
    state.run()?;
    Ok((state.out, state.pos))
}

/// Decodes a raw DEFLATE stream; returns the output and the input bytes used.
pub fn inflate(input: &[u8], limit: usize) -> Result<(Vec<u8>, usize)> {
    inflate_into(input, Vec::new(), limit, None)
}

/// Decodes gzip data (one or more members), checking every CRC-32 and length.
pub fn gunzip(input: &[u8], limit: usize) -> Result<Vec<u8>> {
    gunzip_until(input, limit, None)
}

/// [`gunzip`] that gives up with [`InflateError::Timeout`] once `deadline` passes.
pub fn gunzip_until(input: &[u8], limit: usize, deadline: Option<Instant>) -> Result<Vec<u8>> {
    const FTEXT_RESERVED: u8 = 0xe0;
    const FHCRC: u8 = 0x02;
    const FEXTRA: u8 = 0x04;
    const FNAME: u8 = 0x08;
    const FCOMMENT: u8 = 0x10;
    let corrupt = |why| InflateError::Corrupt(why);
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        let header = rest.get(..10).ok_or(corrupt("truncated gzip header"))?;
        if header[0] != 0x1f || header[1] != 0x8b || header[2] != 8 {
            return Err(corrupt("not gzip data"));
        }
        let flags = header[3];
        if flags & FTEXT_RESERVED != 0 {
            return Err(corrupt("reserved gzip flags set"));
        }
        let mut pos = 10;
        if flags & FEXTRA != 0 {
            let len = rest
                .get(pos..pos + 2)
                .ok_or(corrupt("truncated gzip header"))?;
            pos += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
        }
        for flag in [FNAME, FCOMMENT] {
            if flags & flag != 0 {
                let end = rest
                    .get(pos..)
                    .and_then(|r| r.iter().position(|&b| b == 0))
                    .ok_or(corrupt("truncated gzip header"))?;
                pos += end + 1;
            }
        }
        if flags & FHCRC != 0 {
            pos += 2;
        }
        let body = rest.get(pos..).ok_or(corrupt("truncated gzip header"))?;
        let member_start = out.len();
        let (decoded, used) = inflate_into(body, out, limit, deadline)?;
        out = decoded;
        let trailer = body
            .get(used..used + 8)
            .ok_or(corrupt("truncated gzip trailer"))?;
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        let member = &out[member_start..];
        if crc32(member) != crc {
            return Err(corrupt("CRC-32 mismatch"));
        }
        if member.len() as u32 != size {
            return Err(corrupt("length mismatch"));
        }
        rest = &body[used + 8..];
        if rest.is_empty() {
            return Ok(out);
        }
    }
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

/// CRC-32 (ISO-HDLC), as gzip uses.
pub fn crc32(data: &[u8]) -> u32 {
    !data.iter().fold(!0u32, |c, &b| {
        CRC_TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8)
    })
}

/// Test and fuzz helpers: gzip framing around stored (uncompressed) blocks,
/// so tests can build valid members of any size without a compressor.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    let mut chunks = data.chunks(65_535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = chunk.len() as u16;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python's `gzip.compress(b"hello hello hello hello\n", 9, mtime=0)`:
    /// a fixed-Huffman block with a back-reference.
    const HELLO_GZIP: [u8; 29] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9,
        0x57, 0xc8, 0x40, 0x27, 0xb9, 0x00, 0x00, 0x88, 0x59, 0x0b, 0x18, 0x00, 0x00, 0x00,
    ];

    /// zlib level 9, raw DEFLATE, of [`lines`]: one dynamic-Huffman block.
    const LINES_DEFLATE: [u8; 206] = [
        0x9d, 0xd6, 0xc7, 0x11, 0xc2, 0x40, 0x0c, 0x40, 0xd1, 0x3b, 0x55, 0xa8, 0x04, 0x94, 0x48,
        0xdd, 0x10, 0x16, 0x30, 0x18, 0x2f, 0x18, 0x4c, 0xaa, 0x9e, 0x81, 0x0e, 0xf8, 0x67, 0xcd,
        0x3f, 0xe9, 0xcd, 0xae, 0xda, 0xa6, 0x2b, 0x32, 0x5e, 0xc8, 0x6d, 0x5f, 0xe4, 0x32, 0x34,
        0xeb, 0xa3, 0xac, 0xfa, 0xfa, 0xe8, 0x64, 0x5b, 0x9f, 0x72, 0x18, 0x4e, 0xe7, 0xab, 0xd4,
        0x7b, 0xe9, 0x7f, 0xe3, 0x76, 0xf9, 0x7e, 0xc9, 0xa6, 0xee, 0x46, 0xed, 0xb7, 0x51, 0xd0,
        0x18, 0x68, 0x1c, 0x34, 0x01, 0x9a, 0x04, 0xcd, 0x04, 0x34, 0x53, 0xd0, 0xcc, 0x40, 0x33,
        0x27, 0x3b, 0x45, 0x10, 0x88, 0x04, 0x25, 0x14, 0x94, 0x58, 0x50, 0x82, 0x41, 0x89, 0x06,
        0x25, 0x1c, 0x94, 0x78, 0x50, 0x02, 0x42, 0x89, 0x08, 0x23, 0x22, 0x0c, 0xbd, 0x0d, 0x44,
        0x84, 0x11, 0x11, 0x46, 0x44, 0x18, 0x11, 0x61, 0x44, 0x84, 0x11, 0x11, 0x46, 0x44, 0x18,
        0x11, 0xe1, 0x44, 0x84, 0x13, 0x11, 0x8e, 0xbe, 0x0b, 0x22, 0xc2, 0x89, 0x08, 0x27, 0x22,
        0x9c, 0x88, 0x70, 0x22, 0xc2, 0x89, 0x08, 0x27, 0x22, 0x82, 0x88, 0x08, 0x22, 0x22, 0x88,
        0x88, 0x40, 0x17, 0x04, 0x11, 0x11, 0x44, 0x44, 0x10, 0x11, 0x41, 0x44, 0x04, 0x11, 0x11,
        0x44, 0x44, 0x12, 0x11, 0x49, 0x44, 0x24, 0x11, 0x91, 0x44, 0x44, 0xa2, 0xa3, 0x92, 0x88,
        0x48, 0x22, 0x22, 0x89, 0x88, 0x24, 0x22, 0xf2, 0x4f, 0x11, 0x1f,
    ];

    fn lines() -> Vec<u8> {
        (0..60)
            .flat_map(|i| {
                format!("line {i}: the quick brown fox jumps over the lazy dog\n").into_bytes()
            })
            .collect()
    }

    #[test]
    fn crc32_known_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn stored_blocks_round_trip() {
        for len in [0usize, 1, 100, 65_535, 65_536, 200_000] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            assert_eq!(gunzip(&gzip_stored(&data), len).unwrap(), data, "{len}");
        }
    }

    #[test]
    fn fixed_block_with_back_reference() {
        assert_eq!(
            gunzip(&HELLO_GZIP, 100).unwrap(),
            b"hello hello hello hello\n"
        );
        assert_eq!(gunzip(&HELLO_GZIP, 23), Err(InflateError::TooLarge));
    }

    #[test]
    fn dynamic_block() {
        let expected = lines();
        let (out, used) = inflate(&LINES_DEFLATE, expected.len()).unwrap();
        assert_eq!(used, LINES_DEFLATE.len());
        assert_eq!(out, expected);
        assert_eq!(
            inflate(&LINES_DEFLATE, expected.len() - 1),
            Err(InflateError::TooLarge)
        );
    }

    #[test]
    fn gzip_bomb_stops_at_the_limit() {
        // One fixed block: 'a' then length-258 copies at distance 1, forever
        // (well, 40 000 of them, 13 bits each): ~10 MB from ~65 KB.
        let bomb = fixed_run_of_a(40_000);
        assert!(bomb.len() < 70_000);
        assert_eq!(gunzip(&bomb, 100 * 1024), Err(InflateError::TooLarge));
        assert_eq!(gunzip(&bomb, 20_000_000).unwrap().len(), 1 + 258 * 40_000);
    }

    /// gzip of "a" followed by `copies` × (length 258, distance 1), fixed Huffman.
    fn fixed_run_of_a(copies: usize) -> Vec<u8> {
        let mut bits: Vec<bool> = Vec::new();
        let put = |value: u32, count: u32, bits: &mut Vec<bool>| {
            for i in 0..count {
                bits.push((value >> i) & 1 == 1);
            }
        };
        let code = |code: u32, len: u32, bits: &mut Vec<bool>| {
            for i in (0..len).rev() {
                bits.push((code >> i) & 1 == 1);
            }
        };
        put(1, 1, &mut bits);
        put(1, 2, &mut bits);
        code(0x30 + u32::from(b'a'), 8, &mut bits); // literals 0..143: 00110000 + n
        for _ in 0..copies {
            code(0b1100_0101, 8, &mut bits); // symbol 285 (length 258): 11000000 + (285 - 280)
            code(0, 5, &mut bits); // distance symbol 0 = 1
        }
        code(0, 7, &mut bits); // 256: 0000000
        let mut deflate = vec![0u8; bits.len().div_ceil(8)];
        for (i, b) in bits.iter().enumerate() {
            if *b {
                deflate[i / 8] |= 1 << (i % 8);
            }
        }
        let total = 1 + 258 * copies;
        let mut expected = Vec::with_capacity(total);
        expected.resize(total, b'a');
        let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
        out.extend_from_slice(&deflate);
        out.extend_from_slice(&crc32(&expected).to_le_bytes());
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out
    }

    #[test]
    fn multiple_members_concatenate() {
        let mut data = gzip_stored(b"one ");
        data.extend_from_slice(&gzip_stored(b"two"));
        assert_eq!(gunzip(&data, 100).unwrap(), b"one two");
        assert_eq!(gunzip(&data, 5), Err(InflateError::TooLarge));
    }

    #[test]
    fn header_fields_are_skipped() {
        let plain = gzip_stored(b"payload");
        let mut data = plain[..10].to_vec();
        data[3] = 0x04 | 0x08 | 0x10 | 0x02; // FEXTRA FNAME FCOMMENT FHCRC
        data.extend_from_slice(&[3, 0, b'x', b'y', b'z']);
        data.extend_from_slice(b"name\0comment\0");
        data.extend_from_slice(&[0, 0]);
        data.extend_from_slice(&plain[10..]);
        assert_eq!(gunzip(&data, 100).unwrap(), b"payload");
    }

    #[test]
    fn corrupt_input_is_an_error_never_a_panic() {
        let good = gzip_stored(b"some text to corrupt");
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 5] ^= 1;
        let mut bad_len = good.clone();
        bad_len[n - 1] ^= 1;
        let mut bad_nlen = good.clone();
        bad_nlen[12] ^= 1;
        let mut reserved = good.clone();
        reserved[3] = 0x20;
        let mut trailing = good.clone();
        trailing.push(0);
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x1f],
            b"not gzip at all".to_vec(),
            good[..good.len() - 1].to_vec(),
            good[..12].to_vec(),
            bad_crc,
            bad_len,
            bad_nlen,
            reserved,
            trailing,
            // Block type 3.
            vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 0x07],
            // Fixed block whose first symbol is a distance too far back.
            vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 0x03, 0x02, 0x00],
        ];
        for (i, data) in cases.iter().enumerate() {
            assert!(
                matches!(gunzip(data, 1000), Err(InflateError::Corrupt(_))),
                "case {i}: {:?}",
                gunzip(data, 1000)
            );
        }
        // Every truncation and every single-bit flip of a real stream: no panic.
        let real = LINES_DEFLATE;
        for cut in 0..real.len() {
            let _ = inflate(&real[..cut], 10_000);
        }
        for i in 0..real.len() * 8 {
            let mut flipped = real;
            flipped[i / 8] ^= 1 << (i % 8);
            let _ = inflate(&flipped, 10_000);
        }
        // Pseudo-random garbage behind a valid header.
        let mut seed = 0x1234_5678u32;
        for _ in 0..2000 {
            let mut data = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
            for _ in 0..64 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                data.push((seed >> 16) as u8);
            }
            let _ = gunzip(&data, 10_000);
        }
    }

    #[test]
    fn a_passed_deadline_stops_decoding() {
        let data = gzip_stored(b"x");
        assert_eq!(
            gunzip_until(&data, 10, Some(Instant::now())),
            Err(InflateError::Timeout)
        );
    }
}
