//! `domainHash.json`: `keccak(domain_u32 ‖ mailbox ‖ "HYPERLANE")`.

use serde::Deserialize;
use switchyard_types::{B256, domain_hash};

use crate::vectors::{flip, load};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    domain: u32,
    mailbox: B256,
    expected_domain_hash: B256,
}

fn cases() -> Vec<Case> {
    let cases: Vec<Case> = load("domainHash.json");
    assert_eq!(cases.len(), 3, "domainHash.json holds 3 cases");
    cases
}

#[test]
fn matches_every_case() {
    for c in cases() {
        assert_eq!(
            domain_hash(c.domain, c.mailbox),
            c.expected_domain_hash,
            "domain {}",
            c.domain
        );
    }
}

#[test]
fn wrong_domain_or_mailbox_misses() {
    for c in cases() {
        for wrong in [
            c.domain.wrapping_add(1),
            c.domain.wrapping_sub(1),
            c.domain ^ 1 << 31,
        ] {
            assert_ne!(
                domain_hash(wrong, c.mailbox),
                c.expected_domain_hash,
                "domain {wrong} in place of {}",
                c.domain
            );
        }
        for at in [0, 12, 31] {
            assert_ne!(
                domain_hash(c.domain, flip(c.mailbox, at)),
                c.expected_domain_hash,
                "domain {}: mailbox byte {at} flipped",
                c.domain
            );
        }
    }
}
