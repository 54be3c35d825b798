//! A CBOR request body through the hardened decoder and the transcoder to JSON, as
//! the Java SDK's bodies go; the first byte picks the operation. Any panic, or a
//! decoded body past the value bound, is a finding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shoal::api::codec::{cbor, Protocol, MAX_VALUES};
use shoal::api::target::Operation;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let op = Operation::ALL[pick as usize % Operation::ALL.len()];
    let _answer = Protocol::Cbor.decode_request(op, body);
    if let Ok(item) = cbor::decode_bounded(body, MAX_VALUES) {
        // Encoding is stable: what the encoder writes decodes to the same bytes again
        // (compared as bytes, since NaN is not equal to itself).
        let mut once = Vec::new();
        cbor::encode(&item, &mut once);
        let back = cbor::decode(&once).expect("the encoder's output decodes");
        let mut twice = Vec::new();
        cbor::encode(&back, &mut twice);
        assert_eq!(once, twice);
    }
});
