//! The command-line splitter: never a panic, and the words it finds survive
//! being quoted and split again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunnel::config::split_command;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(words) = split_command(line) else {
        return;
    };
    assert!(!words.is_empty());
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect();
    assert_eq!(split_command(&quoted.join(" ")), Ok(words));
});
