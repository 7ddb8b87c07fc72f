//! A real mainnet Cancun block (21925176, from helios' RPC test data): its
//! header and receipts converted from JSON-RPC, recomputed, run through the
//! header chain, and tampered with.

use serde_json::Value;
use switchyard_lc_evm::trie::trie_root;
use switchyard_lc_evm::{
    Address, B256, BlockRef, Error, Header, HeaderChain, HeaderLayout, Receipt, TxType,
    extract_messages, receipts_root,
};

use crate::vectors;

const HEIGHT: u64 = 21_925_176;

#[path = "../support/rpc_json.rs"]
mod rpc_json;
use rpc_json::{b256, header_from_rpc, quantity, receipt_from_rpc};

struct Block {
    json: Value,
    receipts_json: Value,
    header: Header,
    receipts: Vec<Receipt>,
}

fn block() -> Block {
    let json = vectors::json("helios/tests/testdata/rpc/block.json");
    let receipts_json = vectors::json("helios/tests/testdata/rpc/receipts.json");
    let header = header_from_rpc(&json);
    let receipts = receipts_json
        .as_array()
        .expect("receipts")
        .iter()
        .map(receipt_from_rpc)
        .collect();
    Block {
        json,
        receipts_json,
        header,
        receipts,
    }
}

impl Block {
    fn hash(&self) -> B256 {
        b256(&self.json, "hash")
    }

    /// A chain whose checkpoint is the block's parent.
    fn chain(&self, confirmations: u64) -> HeaderChain {
        let checkpoint = BlockRef {
            number: HEIGHT - 1,
            hash: self.header.parent_hash,
        };
        HeaderChain::new(checkpoint, confirmations, 64).expect("config")
    }

    /// A chain that accepted the block.
    fn accepted(&self, confirmations: u64) -> HeaderChain {
        let mut chain = self.chain(confirmations);
        let v = chain
            .verify_header_with_hash(&self.header, self.hash())
            .expect("links");
        chain.apply_header(v).expect("applies");
        chain
    }

    fn assert_root_mismatch(&self, receipts: &[Receipt]) {
        let chain = self.accepted(0);
        assert_eq!(
            chain.verify_block(&self.header, receipts),
            Err(Error::ReceiptsRootMismatch {
                height: HEIGHT,
                expected: self.header.receipts_root,
                got: receipts_root(receipts),
            })
        );
        assert_ne!(receipts_root(receipts), self.header.receipts_root);
    }
}

#[test]
fn block_hash_recomputes() {
    let b = block();
    assert_eq!(b.header.number, HEIGHT);
    assert_eq!(b.header.layout(), Ok(HeaderLayout::Cancun));
    assert_eq!(b.header.hash(), b.hash());
    let encoded = b.header.encoded();
    assert_eq!(Header::decode(&encoded).expect("decodes"), b.header);
}

#[test]
fn receipts_root_recomputes() {
    let b = block();
    assert_eq!(b.receipts.len(), 202);
    assert_eq!(receipts_root(&b.receipts), b.header.receipts_root);
    // The independent generic trie agrees on real data.
    let entries = b.receipts.iter().enumerate().map(|(i, r)| {
        let mut key = Vec::new();
        switchyard_lc_evm::rlp::Item::Bytes(trim(&(i as u64).to_be_bytes())).encode(&mut key);
        (key, r.encoded_2718())
    });
    assert_eq!(trie_root(entries), b.header.receipts_root);
    for r in &b.receipts {
        assert_eq!(
            Receipt::decode_2718(&r.encoded_2718()).expect("decodes"),
            *r
        );
    }
}

fn trim(b: &[u8]) -> Vec<u8> {
    b.iter().skip_while(|x| **x == 0).copied().collect()
}

#[test]
fn block_verifies_through_the_chain() {
    let b = block();
    let chain = b.accepted(0);
    assert_eq!(
        chain.tip(),
        BlockRef {
            number: HEIGHT,
            hash: b.hash()
        }
    );
    assert_eq!(chain.confirmed_height(), HEIGHT);
    let verified = chain
        .verify_block(&b.header, &b.receipts)
        .expect("verifies");
    assert_eq!(verified.number(), HEIGHT);
    assert_eq!(verified.hash(), b.hash());
    assert_eq!(verified.timestamp(), 0x67be0db3);

    // Positions match the RPC's transactionIndex and logIndex.
    let rpc: Vec<(usize, usize)> = b
        .receipts_json
        .as_array()
        .expect("receipts")
        .iter()
        .flat_map(|r| r["logs"].as_array().expect("logs").iter())
        .map(|l| {
            (
                quantity(l, "transactionIndex") as usize,
                quantity(l, "logIndex") as usize,
            )
        })
        .collect();
    let ours: Vec<(usize, usize)> = verified.logs().map(|(tx, i, _)| (tx, i)).collect();
    assert_eq!(ours.len(), 463);
    assert_eq!(ours, rpc);

    // No Hyperlane mailbox on this block: nothing extracted, nothing refused.
    let mailbox: Address = "0xc005dc82818d67af737725bd4bf75435d065d239"
        .parse()
        .expect("address");
    let out = extract_messages(&verified, mailbox, 1);
    assert!(out.messages.is_empty() && out.rejected.is_empty());
}

#[test]
fn not_confirmed_below_depth() {
    let b = block();
    let chain = b.accepted(1);
    assert_eq!(
        chain.verify_block(&b.header, &b.receipts),
        Err(Error::NotConfirmed {
            height: HEIGHT,
            confirmed: HEIGHT - 1
        })
    );
}

#[test]
fn tampered_log_data_is_refused() {
    let b = block();
    let mut receipts = b.receipts.clone();
    let log = receipts
        .iter_mut()
        .flat_map(|r| r.logs.iter_mut())
        .find(|l| !l.data.is_empty())
        .expect("a log with data");
    let mut data = log.data.to_vec();
    data[0] ^= 1;
    log.data = data.into();
    b.assert_root_mismatch(&receipts);
}

#[test]
fn flipped_status_is_refused() {
    let b = block();
    let mut receipts = b.receipts.clone();
    receipts[0].status = !receipts[0].status;
    b.assert_root_mismatch(&receipts);
}

#[test]
fn removed_receipt_is_refused() {
    let b = block();
    let mut receipts = b.receipts.clone();
    receipts.remove(101);
    b.assert_root_mismatch(&receipts);
    let mut receipts = b.receipts.clone();
    receipts.pop();
    b.assert_root_mismatch(&receipts);
}

#[test]
fn swapped_receipts_are_refused() {
    let b = block();
    let mut receipts = b.receipts.clone();
    receipts.swap(3, 4);
    b.assert_root_mismatch(&receipts);
}

#[test]
fn wrong_parent_hash_is_refused() {
    let b = block();
    let chain = b.chain(0);
    let mut header = b.header.clone();
    header.parent_hash = B256::repeat_byte(0x11);
    assert_eq!(
        chain.verify_header(&header),
        Err(Error::ParentMismatch {
            height: HEIGHT,
            expected: b.header.parent_hash,
            got: B256::repeat_byte(0x11),
        })
    );
}

#[test]
fn wrong_claimed_hash_is_refused() {
    let b = block();
    let chain = b.chain(0);
    let claimed = B256::repeat_byte(0x22);
    assert_eq!(
        chain.verify_header_with_hash(&b.header, claimed),
        Err(Error::HashMismatch {
            height: HEIGHT,
            expected: b.hash(),
            got: claimed
        })
    );
}

#[test]
fn header_forged_after_acceptance_is_refused() {
    let b = block();
    let chain = b.accepted(0);
    // A header claiming other receipts cannot pass for the accepted one.
    let mut forged = b.header.clone();
    forged.receipts_root = receipts_root(&b.receipts[1..]);
    assert_eq!(
        chain.verify_block(&forged, &b.receipts[1..]),
        Err(Error::HashMismatch {
            height: HEIGHT,
            expected: b.hash(),
            got: forged.hash()
        })
    );
}

#[test]
fn block_above_the_tip_is_unknown() {
    let b = block();
    let chain = b.chain(0);
    assert_eq!(
        chain.verify_block(&b.header, &b.receipts),
        Err(Error::UnknownHeader {
            height: HEIGHT,
            lowest: HEIGHT - 1,
            highest: HEIGHT - 1
        })
    );
}

/// The real block's evidence, shared by the property below (parsing 202
/// receipts per case would dominate it).
fn shared() -> &'static Block {
    static B: std::sync::OnceLock<Block> = std::sync::OnceLock::new();
    B.get_or_init(block)
}

fn flip(b: &mut [u8], bit: usize) {
    if b.is_empty() {
        return;
    }
    let i = (bit / 8) % b.len();
    b[i] ^= 1 << (bit % 8);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]

    /// Adversarial inputs as a property over the real block: any single
    /// change to any receipt (status, gas, bloom, a log's address, topic or
    /// data, a removed or added log, the type) or to any header field is
    /// refused by `verify_block`, never relayed.
    #[test]
    fn any_single_change_to_the_real_blocks_evidence_is_refused(
        receipt in 0usize..202,
        field in 0usize..9,
        pick in proptest::prelude::any::<usize>(),
        bit in proptest::prelude::any::<usize>(),
    ) {
        let b = shared();
        let chain = b.accepted(0);
        let mut receipts = b.receipts.clone();
        let r = &mut receipts[receipt];
        let with_logs = !r.logs.is_empty();
        match field {
            0 => r.status = !r.status,
            1 => r.cumulative_gas_used ^= 1 << (bit % 64),
            2 => flip(r.logs_bloom.as_mut_slice(), bit),
            3 if with_logs => {
                let i = pick % r.logs.len();
                flip(r.logs[i].address.as_mut_slice(), bit);
            }
            4 if with_logs && !r.logs[pick % r.logs.len()].topics.is_empty() => {
                let n = r.logs.len();
                let l = &mut r.logs[pick % n];
                let t = pick % l.topics.len();
                flip(l.topics[t].as_mut_slice(), bit);
            }
            5 if with_logs => {
                let i = pick % r.logs.len();
                let mut d = r.logs[i].data.to_vec();
                if d.is_empty() { d.push(1) } else { flip(&mut d, bit) }
                r.logs[i].data = d.into();
            }
            6 if with_logs => {
                let i = pick % r.logs.len();
                r.logs.remove(i);
            }
            7 => r.tx_type = if r.tx_type == TxType::Legacy { TxType::Eip1559 } else { TxType::Legacy },
            _ => {
                // A header field instead: the block no longer hashes to the
                // header the chain accepted.
                let mut h = b.header.clone();
                match pick % 6 {
                    0 => flip(h.receipts_root.as_mut_slice(), bit),
                    1 => flip(h.state_root.as_mut_slice(), bit),
                    2 => h.gas_used ^= 1 << (bit % 64),
                    3 => h.timestamp ^= 1 << (bit % 64),
                    4 => flip(h.logs_bloom.as_mut_slice(), bit),
                    _ => flip(h.parent_hash.as_mut_slice(), bit),
                }
                proptest::prop_assert!(chain.verify_block(&h, &b.receipts).is_err());
                return Ok(());
            }
        }
        proptest::prop_assert!(
            chain.verify_block(&b.header, &receipts).is_err(),
            "receipt {receipt} field {field} (pick {pick}, bit {bit}) still verifies"
        );
    }
}
