//! The fuzz target bodies on stable: each target runs over its seed corpus
//! and over mutations of it (bit flips, byte overwrites, truncations,
//! insertions, deletions, duplications and splices of two seeds). This is
//! what `deploy/fuzz.sh --smoke` runs where no nightly toolchain is
//! installed; with nightly, libFuzzer's coverage-guided runs go further.
//!
//! `SWITCHYARD_FUZZ_REPLAY_ITERS` sets the mutations per target (default
//! 3000), `SWITCHYARD_FUZZ_TARGET` the targets (space-separated; default
//! all). A failing input is written to `fuzz/artifacts/<target>/`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use switchyard_fuzz::{TARGETS, seeds};

/// xorshift64*: deterministic, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: [u8; 12] = [
    0, 1, 0x7f, 0x80, 0x81, 0xb7, 0xb8, 0xbf, 0xc0, 0xf7, 0xf8, 0xff,
];

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => v.truncate(rng.below(len + 1)),
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                v.splice(i..i, bytes);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                v.drain(i..i + n);
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let chunk = v[i..i + n].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, chunk);
            }
            6 => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&other[from..]);
            }
            _ if len >= 4 => {
                // A length-like field: a big-endian or little-endian u32.
                let i = rng.below(len - 3);
                let x = [0u32, 1, 0xff, 0xffff, u32::MAX, len as u32][rng.below(6)];
                let b = if rng.below(2) == 0 {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                };
                v[i..i + 4].copy_from_slice(&b);
            }
            _ => v.push(rng.next() as u8),
        }
    }
    v
}

fn save(target: &str, input: &[u8]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts")
        .join(target);
    match seeds::write(&dir, &[input.to_vec()]) {
        Ok(_) => format!("saved under {}", dir.display()),
        Err(e) => format!("not saved: {e}"),
    }
}

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    let iters: usize = std::env::var("SWITCHYARD_FUZZ_REPLAY_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let only = std::env::var("SWITCHYARD_FUZZ_TARGET").ok();
    let vectors = seeds::vectors_dir();
    let mut failures = vec![];
    for (name, target) in TARGETS {
        if only
            .as_deref()
            .is_some_and(|o| !o.split_whitespace().any(|t| t == name))
        {
            continue;
        }
        let corpus = seeds::seeds(name, &vectors);
        assert!(!corpus.is_empty(), "{name}: no seeds");
        let mut rng = Rng(0x5157_4c59_4152_4400 ^ name.len() as u64);
        let start = std::time::Instant::now();
        let mut runs = 0usize;
        let inputs = corpus.iter().cloned().chain((0..iters).map(|_| {
            let a = &corpus[rng.below(corpus.len())];
            let b = &corpus[rng.below(corpus.len())];
            mutate(&mut rng, a, b)
        }));
        for input in inputs {
            runs += 1;
            if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
                let saved = save(name, &input);
                failures.push(format!(
                    "{name}: input of {} bytes panicked ({saved})",
                    input.len()
                ));
                break;
            }
        }
        println!(
            "{name}: {} seeds, {runs} executions in {:.1} s, {}",
            corpus.len(),
            start.elapsed().as_secs_f64(),
            if failures.iter().any(|f| f.starts_with(name)) {
                "CRASH"
            } else {
                "no crash"
            }
        );
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
