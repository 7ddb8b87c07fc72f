//! Fuzz target bodies for Switchyard's decoders of untrusted bytes.
//!
//! Each target is a plain function of the input bytes so that the same body
//! runs under libFuzzer (`fuzz_targets/*.rs`, `cargo fuzz`, nightly) and
//! under the stable replay test (`tests/replay.rs`: the seed corpus plus
//! mutations of it). A target panics when it finds a bug:
//!
//! - a decoder panics (index out of range, overflow under
//!   `-Cdebug-assertions`, allocation failure from a lying length), or
//! - a decoded value does not survive its encoder: where the crate has one,
//!   `decode(encode(decode(x))) == decode(x)`, and for the strict
//!   byte-level codecs (message, RLP, receipt, header, SSZ, lane entry)
//!   `encode(decode(x)) == x`, since they promise to accept only the
//!   canonical encoding.
//!
//! Inputs that do not decode are fine; only panics count.

mod beacon;
mod cometbft;
pub mod seeds;

use switchyard::config::Config;
use switchyard::store::{LaneEntry, QueueKey};
use switchyard_lc_evm::rlp::Item;
use switchyard_lc_evm::{Header, Receipt};
use switchyard_types::{HEADER_LEN, Message, id_of_encoded, keccak256};

pub use beacon::{beacon_json, beacon_ssz};
pub use cometbft::cometbft_json;

/// A fuzz target body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its libFuzzer binary.
pub const TARGETS: [(&str, Target); 7] = [
    ("message", message),
    ("evm_rlp", evm_rlp),
    ("beacon_ssz", beacon_ssz),
    ("beacon_json", beacon_json),
    ("cometbft_json", cometbft_json),
    ("config_toml", config_toml),
    ("lane_entry", lane_entry),
];

/// libFuzzer initialisation: with `SWITCHYARD_FUZZ_WRITE_SEEDS=<dir>` set,
/// writes the seed corpus of `target` (from `SWITCHYARD_VECTORS`, default
/// `../shared/vectors` from the repository root) to `<dir>` and exits, so
/// that `deploy/fuzz.sh` needs no second build to prepare the corpus.
pub fn init(target: &str) {
    let Some(dir) = std::env::var_os("SWITCHYARD_FUZZ_WRITE_SEEDS") else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let seeds = seeds::seeds(target, &seeds::vectors_dir());
    let n = match seeds::write(&dir, &seeds) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("writing seeds of {target} to {}: {e}", dir.display());
            std::process::exit(1);
        }
    };
    eprintln!("{target}: {n} seeds written to {}", dir.display());
    std::process::exit(0);
}

/// The Hyperlane v3 message codec: `Message::decode`, then the encoding,
/// its length and the id must give back exactly the input.
pub fn message(data: &[u8]) {
    let Ok(m) = Message::decode(data) else {
        assert!(data.len() < HEADER_LEN, "a long enough input must decode");
        return;
    };
    assert_eq!(m.encode(), data, "encode(decode(x)) != x");
    assert_eq!(m.encoded_len(), data.len());
    assert_eq!(m.id(), id_of_encoded(data));
    assert_eq!(m.id(), keccak256(data));
    let _ = m.check_version();
    let ch = m.channel();
    assert_eq!(
        (ch.origin, ch.sender, ch.recipient),
        (m.origin, m.sender, m.recipient)
    );
}

/// The strict RLP reader through its three users: the generic item tree,
/// EIP-2718 receipts and execution headers. Each accepts only canonical
/// encodings, so what decodes must re-encode to the input byte for byte.
pub fn evm_rlp(data: &[u8]) {
    if let Ok(item) = Item::decode(data) {
        assert_eq!(item.encoded(), data, "RLP item: encode(decode(x)) != x");
        assert_eq!(item.encoded_len(), data.len());
    }
    if let Ok(r) = Receipt::decode_2718(data) {
        assert_eq!(r.encoded_2718(), data, "receipt: encode(decode(x)) != x");
        assert_eq!(r.encoded_2718_len(), data.len());
        let _ = switchyard_lc_evm::receipts_root(std::slice::from_ref(&r));
    }
    if let Ok(h) = Header::decode(data) {
        assert_eq!(h.encoded(), data, "header: encode(decode(x)) != x");
        assert_eq!(h.encoded_len(), data.len());
        assert_eq!(h.hash(), keccak256(data));
        h.layout().expect("a decoded header has a fork layout");
    }
}

/// `Config::from_toml` (parse, then validation). What it accepts must
/// serialize back to TOML that it accepts again, with the same content.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = Config::from_toml(text) else {
        return;
    };
    let again = toml::to_string(&cfg).expect("a parsed config serializes to TOML");
    let cfg2 = Config::from_toml(&again)
        .unwrap_or_else(|e| panic!("a serialized config is refused: {e}\n{again}"));
    assert_eq!(
        serde_json::to_value(&cfg).expect("config to JSON"),
        serde_json::to_value(&cfg2).expect("config to JSON"),
        "config changed across a TOML round trip:\n{again}"
    );
}

/// The lane entry codec (what a dispatcher reads back from Redis):
/// `LaneEntry::decode`, whose output must re-encode to the input; and the
/// queue key parser on the same bytes as text. The entry MAC itself is
/// private to the Redis layer (`Lanes`) and not reachable without a server.
pub fn lane_entry(data: &[u8]) {
    if let Ok(e) = LaneEntry::decode("fuzz", data) {
        assert_eq!(e.encode(), data, "lane entry: encode(decode(x)) != x");
        for m in &e.messages {
            if let Ok(msg) = Message::decode(m) {
                assert_eq!(msg.encode(), m.as_ref());
            }
        }
    }
    let _ = QueueKey::from_secret(&String::from_utf8_lossy(data));
}
