//! Adversarial inputs over every accepted step of the model-based vectors:
//! each SUCCESS step of the 41 files is replayed with one change to what the
//! light client authenticates (the commit's signatures, a header field, a
//! validator's voting power or key, the chain id) or with a clock past the
//! trusting period, and must then not succeed. The cases are generated
//! over all valid steps, every kind of change, at positions drawn from a
//! seeded generator (so a failure names a reproducible case).

use base64::Engine;
use serde_json::Value;
use switchyard_lc_cometbft::{LightBlock, SignatureBackend, Time, VerdictClass};

use crate::model_based::cases;
use crate::support::{read, vectors};

/// A deterministic xorshift: positions and bits to change.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
}

const KINDS: [&str; 9] = [
    "a bit of every commit signature",
    "header app_hash",
    "header time",
    "header chain_id",
    "header validators_hash",
    "header last_block_id",
    "validator voting power",
    "validator public key",
    "expired trust",
];

fn flip_b64(v: &mut Value, rng: &mut Rng) -> bool {
    let Some(s) = v.as_str() else { return false };
    let e = base64::engine::general_purpose::STANDARD;
    let Ok(mut bytes) = e.decode(s) else {
        return false;
    };
    if bytes.is_empty() {
        return false;
    }
    let i = rng.next() % bytes.len();
    bytes[i] ^= 1 << (rng.next() % 8);
    *v = Value::String(e.encode(bytes));
    true
}

fn flip_hex(v: &mut Value, rng: &mut Rng) -> bool {
    let Some(s) = v.as_str() else { return false };
    if s.is_empty() {
        // An empty hash becomes a present one.
        *v = Value::String("AB".repeat(32));
        return true;
    }
    let mut chars: Vec<char> = s.chars().collect();
    let i = rng.next() % chars.len();
    chars[i] = if chars[i] == '0' { '1' } else { '0' };
    *v = Value::String(chars.into_iter().collect());
    true
}

/// The block JSON changed in one way; `None` when it has no such part.
fn mutate(block: &Value, kind: usize, rng: &mut Rng) -> Option<Value> {
    let mut b = block.clone();
    let changed = match kind {
        0 => {
            // Every signature, one bit each: like CometBFT's
            // VerifyCommitLight, the verifier stops counting once more than
            // 2/3 of the power signed, so a bad signature past that point
            // leaves a block that is still signed by enough of the set
            // (the backends test checks that case against upstream).
            let sigs = b["signed_header"]["commit"]["signatures"].as_array_mut()?;
            let mut any = false;
            for sig in sigs.iter_mut().filter(|s| s["signature"].is_string()) {
                any |= flip_b64(&mut sig["signature"], rng);
            }
            any
        }
        1 => {
            let h = header_mut(&mut b);
            flip_hex(&mut h["app_hash"], rng)
        }
        2 => {
            let h = header_mut(&mut b);
            let t: Time = serde_json::from_value(h["time"].clone()).ok()?;
            let later = (t + std::time::Duration::from_secs(1 + rng.next() as u64 % 60)).ok()?;
            h["time"] = serde_json::to_value(later).ok()?;
            true
        }
        3 => {
            let h = header_mut(&mut b);
            h["chain_id"] = Value::String(format!("{}-fork", h["chain_id"].as_str()?));
            true
        }
        4 => {
            let h = header_mut(&mut b);
            flip_hex(&mut h["validators_hash"], rng)
        }
        5 => {
            let h = header_mut(&mut b);
            flip_hex(&mut h["last_block_id"]["hash"], rng)
        }
        6 => {
            let vals = b["validator_set"]["validators"].as_array_mut()?;
            if vals.is_empty() {
                return None;
            }
            let i = rng.next() % vals.len();
            let p: u64 = vals[i]["voting_power"].as_str()?.parse().ok()?;
            vals[i]["voting_power"] = Value::String((p + 1).to_string());
            true
        }
        7 => {
            let vals = b["validator_set"]["validators"].as_array_mut()?;
            if vals.is_empty() {
                return None;
            }
            let i = rng.next() % vals.len();
            flip_b64(&mut vals[i]["pub_key"]["value"], rng)
        }
        _ => return None,
    };
    changed.then_some(b)
}

fn header_mut(b: &mut Value) -> &mut Value {
    &mut b["signed_header"]["header"]
}

#[test]
fn every_accepted_step_is_refused_after_any_single_change() {
    let dir = vectors("tendermint-rs/light-client/tests/support/model_based/single_step");
    let mut rng = Rng(0x5eed_cafe_f00d_1234);
    let (mut valid_steps, mut tried) = (0usize, 0usize);
    for (name, case) in cases() {
        let raw: Value =
            serde_json::from_str(&read(&dir.join(format!("{name}.json")))).expect("json");
        let client = case.client(SignatureBackend::Batch);
        let mut trusted = case.trusted();
        for (i, step) in case.input.iter().enumerate() {
            let result = client.verify(&trusted, &step.block, step.now);
            if VerdictClass::of(&result) == VerdictClass::Success {
                valid_steps += 1;
                for (kind, what) in KINDS.iter().enumerate() {
                    for _ in 0..3 {
                        let verdict = if kind == KINDS.len() - 1 {
                            // The trusted header's time plus the trusting
                            // period, and a second more.
                            let past = client.options().trusting_period
                                + std::time::Duration::from_secs(1 + rng.next() as u64 % 100);
                            let expired = (trusted.time() + past).expect("time");
                            VerdictClass::of(&client.verify(&trusted, &step.block, expired))
                        } else {
                            let Some(json) = mutate(&raw["input"][i]["block"], kind, &mut rng)
                            else {
                                continue;
                            };
                            match serde_json::from_value::<LightBlock>(json) {
                                Ok(block) => {
                                    VerdictClass::of(&client.verify(&trusted, &block, step.now))
                                }
                                // A change the decoder already refuses.
                                Err(_) => VerdictClass::Invalid,
                            }
                        };
                        tried += 1;
                        assert_ne!(
                            verdict,
                            VerdictClass::Success,
                            "{name} step {i}: {what} still succeeds"
                        );
                    }
                }
            }
            if let Ok(v) = result {
                trusted.apply(v).expect("fresh");
            }
        }
    }
    assert!(valid_steps >= 40, "{valid_steps} accepted steps");
    assert!(tried > valid_steps * 20, "{tried} changed steps");
}
