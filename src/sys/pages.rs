//! Gives back the code pages only startup touched: executable file mappings
//! are dropped from the page tables once, and fault back in as they run again.
//! Never touches a mapping that can hold written data (not r-xp, or with anonymous pages).

use std::io;

/// Where Linux lists the process's mappings, with their page counts.
const SMAPS_FILE: &str = "/proc/self/smaps";

/// Drops the resident pages of every executable, file-backed, private
/// mapping (the program's and its libraries' code). Startup runs code the
/// idle agent never runs again (argument and profile parsing, TLS set-up,
/// spawning); those pages stay counted in its RSS until dropped. Returns
/// the bytes of the mappings advised.
pub fn release_code_pages() -> io::Result<usize> {
    let smaps = std::fs::read_to_string(SMAPS_FILE)?;
    let mut advised = 0usize;
    for (start, end) in clean_code_mappings(&smaps) {
        let Some(len) = end.checked_sub(start).filter(|l| *l > 0) else {
            continue;
        };
        // SAFETY: [start, end) is a whole mapping of this process as the
        // kernel listed it, read-only and executable, private, backed by a
        // file, and holding no anonymous (written, copied-on-write) page, so
        // every resident page equals the file's contents. MADV_DONTNEED only removes them from
        // the page tables; the next access faults the same bytes back in from
        // the page cache. No Rust object lives in code pages.
        let rc = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        if rc == 0 {
            advised = advised.saturating_add(len);
        }
    }
    Ok(advised)
}

/// The code mappings of an smaps listing that hold no anonymous page (a
/// library patched at load time, or a debugger's breakpoint, makes some).
fn clean_code_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut clean = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    let mut anonymous_kib: Option<u64> = None;
    let mut finish = |current: Option<(usize, usize)>, anonymous_kib: Option<u64>| {
        if let (Some(range), Some(0)) = (current, anonymous_kib) {
            clean.push(range);
        }
    };
    for line in smaps.lines() {
        if let Some(value) = line.strip_prefix("Anonymous:") {
            anonymous_kib = value.split_whitespace().next().and_then(|v| v.parse().ok());
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-'))
        {
            finish(current, anonymous_kib);
            current = code_mapping(line);
            anonymous_kib = None;
        }
    }
    finish(current, anonymous_kib);
    clean
}

/// `(start, end)` of a `/proc/self/maps` line that is an `r-xp` mapping of a
/// file (not `[vdso]`, not anonymous).
fn code_mapping(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let _offset = fields.next()?;
    let _device = fields.next()?;
    let inode = fields.next()?;
    let path = fields.next()?;
    if perms != "r-xp" || inode == "0" || !path.starts_with('/') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    let start = usize::from_str_radix(start, 16).ok()?;
    let end = usize::from_str_radix(end, 16).ok()?;
    (end > start).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_executable_private_file_mappings_are_chosen() {
        let text = "5581c000-5591c000 r-xp 00010000 08:01 123 /usr/bin/tunnel-client";
        assert_eq!(code_mapping(text), Some((0x5581c000, 0x5591c000)));
        for other in [
            "5591c000-5592c000 r--p 00110000 08:01 123 /usr/bin/tunnel-client",
            "5592c000-5593c000 rw-p 00120000 08:01 123 /usr/bin/tunnel-client",
            "7ffd000-7fff000 r-xp 00000000 00:00 0 [vdso]",
            "7f00000-7f10000 r-xp 00000000 00:00 0 ",
            "7f00000-7f10000 r-xs 00000000 08:01 9 /dev/shm/x",
            "garbage",
        ] {
            assert_eq!(code_mapping(other), None, "{other}");
        }
    }

    #[test]
    fn code_mappings_with_written_pages_are_left_alone() {
        let smaps = "\
1000-2000 r-xp 00000000 08:01 7 /usr/lib/clean.so
Rss:                   4 kB
Anonymous:             0 kB
2000-3000 r-xp 00001000 08:01 8 /usr/lib/patched.so
Anonymous:             4 kB
3000-4000 rw-p 00002000 08:01 8 /usr/lib/patched.so
Anonymous:             0 kB
4000-5000 r-xp 00000000 08:01 9 /usr/bin/last
Anonymous:             0 kB
";
        assert_eq!(
            clean_code_mappings(smaps),
            vec![(0x1000, 0x2000), (0x4000, 0x5000)]
        );
        // A listing without page counts releases nothing.
        assert!(clean_code_mappings("1000-2000 r-xp 0 08:01 7 /x\n").is_empty());
    }

    #[test]
    fn releasing_code_pages_keeps_the_program_running() {
        let advised = release_code_pages().unwrap();
        assert!(advised > 0);
        // Code runs again after its pages were dropped.
        assert_eq!(code_mapping("1-2 r-xp 0 0:0 1 /x"), Some((1, 2)));
    }
}
