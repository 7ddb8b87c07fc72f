//! libFuzzer entry of [`switchyard_fuzz::beacon_json`]. With
//! `SWITCHYARD_FUZZ_WRITE_SEEDS=<dir>` set, writes the seed corpus to
//! `<dir>` and exits instead.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: switchyard_fuzz::init("beacon_json"),
    |data: &[u8]| switchyard_fuzz::beacon_json(data)
);
