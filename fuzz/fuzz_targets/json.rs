//! A JSON request body through what every request meets before its operation runs:
//! the value bound, the parser and the model's validation. The first byte picks the
//! operation. Any panic, or a result past the bounds, is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal::api::codec::Protocol;
use shoal::api::target::Operation;
use shoal::api::validate::check_input;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let op = Operation::ALL[pick as usize % Operation::ALL.len()];
    if let Ok(v) = Protocol::Json.decode_request(op, body) {
        if let Err(e) = check_input(op.name(), &v) {
            // Messages stay bounded whatever the input (10 errors, 32 KiB per value).
            assert!(format!("{e:?}").len() < 512 * 1024);
        }
    }
});
