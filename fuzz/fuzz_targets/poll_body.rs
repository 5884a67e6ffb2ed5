//! The poll body splitter and the per-command decoder: never a panic, and for
//! every body serde_json decodes whole, exactly the commands it would give.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tunnel::contract::batch::{depth, member};
use tunnel::contract::{Command, PollBatch, PollBody};

fuzz_target!(|data: &[u8]| {
    let whole = serde_json::from_slice::<PollBatch>(data);
    let is_object = data
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    match PollBody::parse(data.to_vec()) {
        Ok(body) => {
            let spans: Vec<&[u8]> = body.commands().collect();
            assert_eq!(spans.len(), body.len());
            let decoded: Vec<_> = spans.iter().map(|s| Command::decode_bytes(s)).collect();
            for span in &spans {
                let _ = member(span, "request_id");
            }
            if let Ok(batch) = whole {
                assert_eq!(batch.commands.len(), decoded.len());
                for (value, got) in batch.commands.into_iter().zip(decoded) {
                    assert_eq!(Command::decode(value), got);
                }
            }
        }
        Err(_) => assert!(
            whole.is_err() || !is_object,
            "serde_json decoded a body the splitter refused"
        ),
    }
    if let Some(levels) = depth(data) {
        assert!(levels <= data.len());
    }
});
