//! The stdio line reader against a model: every line of at most `max` bytes
//! comes back exactly, every longer one as TooLong, whatever the buffering.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::BufReader;
use tunnel::mcp::stdio::lines::{read_line_bounded, Line};

fuzz_target!(|data: &[u8]| {
    let Some((&[max, capacity], data)) = data.split_first_chunk::<2>() else {
        return;
    };
    let max = usize::from(max % 64);
    let mut reader = BufReader::with_capacity(usize::from(capacity % 32) + 1, data);
    let mut got = Vec::new();
    let mut buf = Vec::new();
    loop {
        match read_line_bounded(&mut reader, &mut buf, max).unwrap() {
            Line::Eof => break,
            Line::TooLong => got.push(None),
            Line::Complete => {
                assert!(buf.len() <= max && !buf.contains(&b'\n'));
                got.push(Some(buf.clone()));
            }
        }
    }
    let mut want = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (line, ended) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], true),
            None => (rest, false),
        };
        rest = &rest[(line.len() + usize::from(ended)).min(rest.len())..];
        if line.len() > max {
            want.push(None);
        } else if ended {
            want.push(Some(line.strip_suffix(b"\r").unwrap_or(line).to_vec()));
        } else {
            want.push(Some(line.to_vec()));
        }
    }
    assert_eq!(got, want);
});
