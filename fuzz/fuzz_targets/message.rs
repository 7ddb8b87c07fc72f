//! libFuzzer entry of [`switchyard_fuzz::message`]. With
//! `SWITCHYARD_FUZZ_WRITE_SEEDS=<dir>` set, writes the seed corpus to
//! `<dir>` and exits instead.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: switchyard_fuzz::init("message"),
    |data: &[u8]| switchyard_fuzz::message(data)
);
