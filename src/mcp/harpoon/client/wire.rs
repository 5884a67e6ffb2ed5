//! HTTP/1.1 on one connection: writes a request Harpoon composed, reads one
//! response head and body with strict framing and hard caps. Never reuses a connection or trusts a length.

use crate::mcp::harpoon::policy::Method;
use std::io::{self, BufRead, Read};

/// Largest response head (status line and headers) read.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most response headers read.
pub const MAX_RESPONSE_HEADERS: usize = 256;
/// Most interim (1xx) responses skipped before the final one.
const MAX_INTERIM_RESPONSES: usize = 8;
/// Longest chunk-size line.
const MAX_CHUNK_LINE_BYTES: usize = 4096;
/// Most bytes of chunked trailers read (and discarded).
const MAX_TRAILER_BYTES: usize = 16 * 1024;

/// One request, fully composed by the caller of this module.
pub struct Request<'a> {
    pub method: Method,
    /// Origin-form request target (path and query), already checked.
    pub target: &'a str,
    /// `Host` header value.
    pub host: &'a str,
    pub user_agent: &'a str,
    pub accept_gzip: bool,
    /// Caller headers that passed the header rules.
    pub headers: &'a [(String, String)],
    /// `Some` (even empty) sends `Content-Length`.
    pub body: Option<&'a [u8]>,
}

/// The request bytes: request line, `Host`, `User-Agent`, `Accept-Encoding`
/// (when asked), caller headers, `Content-Length`, `Connection: close`, body.
pub fn encode_request(req: &Request<'_>) -> Vec<u8> {
    let body = req.body.unwrap_or_default();
    let mut out = Vec::with_capacity(256 + req.target.len() + body.len());
    out.extend_from_slice(format!("{} {} HTTP/1.1\r\n", req.method, req.target).as_bytes());
    push_header(&mut out, "Host", req.host);
    push_header(&mut out, "User-Agent", req.user_agent);
    if req.accept_gzip {
        push_header(&mut out, "Accept-Encoding", "gzip");
    }
    for (name, value) in req.headers {
        push_header(&mut out, name, value);
    }
    if req.body.is_some() {
        push_header(&mut out, "Content-Length", &body.len().to_string());
    }
    push_header(&mut out, "Connection", "close");
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A response's status and headers (names as received, values trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// Every value of `name` (any case), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn first<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.values(name).next()
    }
}

#[derive(Debug)]
pub enum WireError {
    Io(io::Error),
    /// Not HTTP/1.x as RFC 9112 writes it.
    Malformed(&'static str),
    /// Past a cap of this module or the caller's body cap.
    TooLarge,
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "{e}"),
            WireError::Malformed(why) => write!(f, "malformed response: {why}"),
            WireError::TooLarge => f.write_str("response too large"),
        }
    }
}

/// One line without its `\r\n` (a bare `\n` is accepted), at most `max` bytes.
fn read_line<R: BufRead>(reader: &mut R, max: usize) -> Result<Vec<u8>, WireError> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(max as u64 + 2)
        .read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > max {
            WireError::TooLarge
        } else {
            WireError::Io(io::ErrorKind::UnexpectedEof.into())
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.len() > max {
        return Err(WireError::TooLarge);
    }
    if line.contains(&b'\r') {
        return Err(WireError::Malformed("bare CR"));
    }
    Ok(line)
}

/// Reads the final response head, skipping interim 1xx responses.
pub fn read_head<R: BufRead>(reader: &mut R) -> Result<Head, WireError> {
    for _ in 0..=MAX_INTERIM_RESPONSES {
        let head = read_one_head(reader)?;
        match head.status {
            101 => return Err(WireError::Malformed("unexpected protocol switch")),
            100..=199 => continue,
            _ => return Ok(head),
        }
    }
    Err(WireError::Malformed("too many interim responses"))
}

fn read_one_head<R: BufRead>(reader: &mut R) -> Result<Head, WireError> {
    let mut budget = MAX_HEAD_BYTES;
    let status_line = read_line(reader, budget)?;
    budget -= status_line.len();
    let status = parse_status_line(&status_line)?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader, budget)?;
        budget = budget
            .checked_sub(line.len() + 2)
            .ok_or(WireError::TooLarge)?;
        if line.is_empty() {
            return Ok(Head { status, headers });
        }
        if headers.len() >= MAX_RESPONSE_HEADERS {
            return Err(WireError::TooLarge);
        }
        headers.push(parse_header_line(&line)?);
    }
}

/// `HTTP/1.1 200 OK` or `HTTP/1.0 404`: status 100-599.
fn parse_status_line(line: &[u8]) -> Result<u16, WireError> {
    let rest = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
        .ok_or(WireError::Malformed("not an HTTP/1.x status line"))?;
    let digits = rest
        .get(..3)
        .filter(|d| d.iter().all(u8::is_ascii_digit))
        .ok_or(WireError::Malformed("bad status code"))?;
    if rest.len() > 3 && rest[3] != b' ' {
        return Err(WireError::Malformed("bad status code"));
    }
    let status = digits
        .iter()
        .fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if !(100..=599).contains(&status) {
        return Err(WireError::Malformed("bad status code"));
    }
    Ok(status)
}

fn parse_header_line(line: &[u8]) -> Result<(String, String), WireError> {
    if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return Err(WireError::Malformed("folded header line"));
    }
    let colon = line
        .iter()
        .position(|b| *b == b':')
        .ok_or(WireError::Malformed("header line without a colon"))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty()
        || !name
            .iter()
            .all(|b| crate::mcp::harpoon::policy::headers::is_token_byte(*b))
    {
        return Err(WireError::Malformed("bad header name"));
    }
    if value.contains(&0) {
        return Err(WireError::Malformed("NUL in a header value"));
    }
    let value = trim_ows(value);
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// How the body of a response is delimited (RFC 9112 section 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

/// The body framing of `head`, for a request made with `method`.
pub fn framing(head: &Head, method: Method) -> Result<Framing, WireError> {
    if method == Method::Head || head.status == 204 || head.status == 304 || head.status < 200 {
        return Ok(Framing::Empty);
    }
    let codings: Vec<String> = head
        .values("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    if head.values("transfer-encoding").next().is_some() {
        // Transfer-Encoding wins over Content-Length; only plain chunked is spoken.
        return if codings == ["chunked"] {
            Ok(Framing::Chunked)
        } else {
            Err(WireError::Malformed("unsupported transfer-encoding"))
        };
    }
    let mut length: Option<u64> = None;
    for value in head.values("content-length") {
        for part in value.split(',') {
            let part = part.trim();
            if part.is_empty() || part.len() > 19 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(WireError::Malformed("bad content-length"));
            }
            let n: u64 = part
                .parse()
                .map_err(|_| WireError::Malformed("bad content-length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(WireError::Malformed("conflicting content-length"));
            }
            length = Some(n);
        }
    }
    Ok(match length {
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// Reads the body as `framing` says, failing with [`WireError::TooLarge`] as
/// soon as it is known to exceed `limit` (never returns part of a body).
pub fn read_body<R: BufRead>(
    reader: &mut R,
    framing: Framing,
    limit: u64,
) -> Result<Vec<u8>, WireError> {
    match framing {
        Framing::Empty => Ok(Vec::new()),
        Framing::Length(n) => {
            if n > limit {
                return Err(WireError::TooLarge);
            }
            let mut body = Vec::with_capacity(n.min(64 * 1024) as usize);
            reader.by_ref().take(n).read_to_end(&mut body)?;
            if (body.len() as u64) < n {
                return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            Ok(body)
        }
        Framing::UntilClose => {
            let mut body = Vec::new();
            reader
                .by_ref()
                .take(limit.saturating_add(1))
                .read_to_end(&mut body)?;
            if body.len() as u64 > limit {
                return Err(WireError::TooLarge);
            }
            Ok(body)
        }
        Framing::Chunked => read_chunked(reader, limit),
    }
}

fn read_chunked<R: BufRead>(reader: &mut R, limit: u64) -> Result<Vec<u8>, WireError> {
    let malformed_if_long = |e: WireError, why| match e {
        WireError::TooLarge => WireError::Malformed(why),
        other => other,
    };
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, MAX_CHUNK_LINE_BYTES)
            .map_err(|e| malformed_if_long(e, "chunk size line too long"))?;
        let size_text = line.split(|b| *b == b';').next().unwrap_or_default();
        let size_text = trim_ows(size_text);
        if size_text.is_empty()
            || size_text.len() > 15
            || !size_text.iter().all(u8::is_ascii_hexdigit)
        {
            return Err(WireError::Malformed("bad chunk size"));
        }
        let size = size_text.iter().fold(0u64, |n, d| {
            n * 16 + u64::from((*d as char).to_digit(16).unwrap_or(0))
        });
        if size == 0 {
            let mut budget = MAX_TRAILER_BYTES;
            loop {
                let trailer = read_line(reader, budget)
                    .map_err(|e| malformed_if_long(e, "trailers too long"))?;
                if trailer.is_empty() {
                    return Ok(body);
                }
                budget = budget
                    .checked_sub(trailer.len() + 2)
                    .ok_or(WireError::Malformed("trailers too long"))?;
            }
        }
        if (body.len() as u64).saturating_add(size) > limit {
            return Err(WireError::TooLarge);
        }
        let before = body.len();
        reader.by_ref().take(size).read_to_end(&mut body)?;
        if ((body.len() - before) as u64) < size {
            return Err(WireError::Io(io::ErrorKind::UnexpectedEof.into()));
        }
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
        if crlf != *b"\r\n" {
            return Err(WireError::Malformed("chunk without its CRLF"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn head(text: &str) -> Result<Head, WireError> {
        read_head(&mut Cursor::new(text.as_bytes().to_vec()))
    }

    fn body(text: &[u8], limit: u64) -> Result<Vec<u8>, WireError> {
        let mut reader = Cursor::new(text.to_vec());
        let h = read_head(&mut reader)?;
        let f = framing(&h, Method::Get)?;
        read_body(&mut reader, f, limit)
    }

    #[test]
    fn request_bytes_are_exactly_ours() {
        let headers = vec![("X-A".to_string(), "1".to_string())];
        let req = Request {
            method: Method::Post,
            target: "/api/x?y=1",
            host: "h:8080",
            user_agent: "tunnel-client-rs/1",
            accept_gzip: true,
            headers: &headers,
            body: Some(b"{}"),
        };
        assert_eq!(
            String::from_utf8(encode_request(&req)).unwrap(),
            "POST /api/x?y=1 HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: tunnel-client-rs/1\r\n\
             Accept-Encoding: gzip\r\nX-A: 1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
        );
        let get = Request {
            method: Method::Get,
            accept_gzip: false,
            headers: &[],
            body: None,
            ..req
        };
        assert_eq!(
            String::from_utf8(encode_request(&get)).unwrap(),
            "GET /api/x?y=1 HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: tunnel-client-rs/1\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn heads_parse_and_interim_responses_are_skipped() {
        let h = head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type:  text/plain \r\nX-Multi: a\r\nx-multi: b\r\n\r\n").unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.first("content-type"), Some("text/plain"));
        assert_eq!(h.values("X-MULTI").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(head("HTTP/1.0 404\n\n").unwrap().status, 404);
    }

    #[test]
    fn malformed_heads_are_refused() {
        for text in [
            "",
            "HTTP/1.1 200 OK\r\n",
            "HTTP/2 200\r\n\r\n",
            "ICY 200 OK\r\n\r\n",
            "HTTP/1.1 20 OK\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "HTTP/1.1 099 X\r\n\r\n",
            "HTTP/1.1 600 X\r\n\r\n",
            "HTTP/1.1 101 Switching\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
            "HTTP/1.1 200 OK\r\nNo colon\r\n\r\n",
            "HTTP/1.1 200 OK\r\nBad Name: v\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
        ] {
            assert!(head(text).is_err(), "{text:?}");
        }
        let many_interim = "HTTP/1.1 103 Early\r\n\r\n".repeat(MAX_INTERIM_RESPONSES + 1)
            + "HTTP/1.1 200 OK\r\n\r\n";
        assert!(head(&many_interim).is_err());
        let huge = format!(
            "HTTP/1.1 200 OK\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES)
        );
        assert!(matches!(head(&huge), Err(WireError::TooLarge)));
        let many: String = (0..=MAX_RESPONSE_HEADERS)
            .map(|i| format!("X{i}: v\r\n"))
            .collect();
        assert!(matches!(
            head(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")),
            Err(WireError::TooLarge)
        ));
    }

    #[test]
    fn content_length_framing_is_strict() {
        assert_eq!(
            body(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
                100
            )
            .unwrap(),
            b"hello"
        );
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", 100).unwrap(),
            b"hello"
        );
        assert!(matches!(
            body(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello", 100),
            Err(WireError::Io(_))
        ));
        assert!(matches!(
            body(b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 100),
            Err(WireError::TooLarge)
        ));
        for bad in [
            "Content-Length: 5\r\nContent-Length: 6",
            "Content-Length: -1",
            "Content-Length: 0x5",
            "Content-Length: 99999999999999999999999",
            "Content-Length: ",
        ] {
            let text = format!("HTTP/1.1 200 OK\r\n{bad}\r\n\r\nhello");
            assert!(
                matches!(body(text.as_bytes(), 100), Err(WireError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn chunked_framing_is_capped_while_reading() {
        let ok = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
        assert_eq!(body(ok, 11).unwrap(), b"hello world");
        assert!(matches!(body(ok, 10), Err(WireError::TooLarge)));
        for bad in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nx",
        ] {
            assert!(
                body(bad, 100).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // A huge declared chunk is refused before it is read.
        assert!(matches!(
            body(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n",
                100
            ),
            Err(WireError::TooLarge)
        ));
    }

    #[test]
    fn until_close_and_empty_bodies() {
        assert_eq!(
            body(b"HTTP/1.1 200 OK\r\n\r\nall of it", 100).unwrap(),
            b"all of it"
        );
        assert!(matches!(
            body(b"HTTP/1.1 200 OK\r\n\r\nall of it", 8),
            Err(WireError::TooLarge)
        ));
        assert_eq!(
            body(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 100).unwrap(),
            b""
        );
        assert_eq!(
            body(b"HTTP/1.1 304 Not Modified\r\n\r\nignored", 100).unwrap(),
            b""
        );
        let mut reader = Cursor::new(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n".to_vec());
        let h = read_head(&mut reader).unwrap();
        assert_eq!(framing(&h, Method::Head).unwrap(), Framing::Empty);
    }

    /// Response parsing never panics, whatever the upstream sends.
    #[test]
    fn arbitrary_answers_never_panic() {
        let pieces: [&[u8]; 12] = [
            b"HTTP/1.1 200 OK\r\n",
            b"Content-Length: 3\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"\r\n",
            b"5\r\nhello\r\n",
            b"0\r\n\r\n",
            b"ffffffffffffffff\r\n",
            b"X: \0\r",
            b"HTTP/1.1 100 C\r\n\r\n",
            b" folded\r\n",
            b"abc",
            b"\n",
        ];
        let mut seed = 99u32;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let count = (seed >> 28) as usize;
            let mut bytes = Vec::new();
            for i in 0..count {
                bytes.extend_from_slice(
                    pieces[seed.rotate_left(i as u32 * 4) as usize % pieces.len()],
                );
            }
            let mut reader = Cursor::new(bytes);
            if let Ok(h) = read_head(&mut reader) {
                if let Ok(f) = framing(&h, Method::Get) {
                    let _ = read_body(&mut reader, f, 100);
                }
            }
        }
    }
}
