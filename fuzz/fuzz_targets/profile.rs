//! Profile JSON: reading and resolving any bytes ends in a layer or a clear
//! error, never a panic, and an error never echoes an api_key value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tunnel::config::{profile, resolve, Env, Layer, Layers};

fuzz_target!(|data: &[u8]| {
    let env = Env::from_pairs([("TOKEN", "sk-fuzz-SECRET"), ("EMPTY", "")]);
    let Ok(layer) = profile::parse(data, Path::new("/nonexistent/fuzz/profile.json"), &env) else {
        return;
    };
    let empty = Layer::default();
    let layers = Layers {
        flags: &empty,
        env: &empty,
        profile: &layer,
        vars: &env,
    };
    if let Err(e) = resolve(&layers) {
        assert!(!e.to_string().contains("sk-fuzz-SECRET"));
    }
});
