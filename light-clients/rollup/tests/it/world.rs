//! A synthetic Ethereum state for the settlement forms the vectors do not
//! cover: accounts with storage, their tries built with alloy-trie's hash
//! builder, and `eth_getProof`-form proofs retained while building.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::proof::ProofRetainer;
use alloy_trie::{HashBuilder, KECCAK_EMPTY, Nibbles};
use switchyard_lc_evm::rlp::Item;
use switchyard_lc_rollup::{AccountProofParams, Header, StateProofParams};

/// Accounts and their storage words (zero words are not stored).
#[derive(Debug, Clone)]
pub(crate) struct World {
    accounts: BTreeMap<Address, BTreeMap<B256, U256>>,
}

/// The root of the trie holding `leaves` (keys already hashed) and the
/// proof of `target`.
fn trie(mut leaves: Vec<(B256, Vec<u8>)>, target: B256) -> (B256, Vec<Bytes>) {
    leaves.sort_by_key(|(k, _)| *k);
    let key = Nibbles::unpack(target);
    let mut hb = HashBuilder::default().with_proof_retainer(ProofRetainer::new(vec![key]));
    for (k, v) in &leaves {
        hb.add_leaf(Nibbles::unpack(*k), v);
    }
    let root = hb.root();
    let proof = hb
        .take_proof_nodes()
        .matching_nodes_sorted(&key)
        .into_iter()
        .map(|(_, node)| node)
        .collect();
    (root, proof)
}

impl World {
    /// A state with filler accounts around whatever the test adds, so that
    /// every proof walks branches and not a lone leaf.
    pub(crate) fn new() -> Self {
        let mut w = Self {
            accounts: BTreeMap::new(),
        };
        for i in 0..48u8 {
            let a = Address::repeat_byte(0xf0 ^ i);
            for s in 0..u64::from(i % 5) {
                w.set(a, B256::with_last_byte(s as u8), U256::from(s + 1));
            }
            w.accounts.entry(a).or_default();
        }
        w
    }

    /// Sets a storage word (zero deletes it, as the EVM does).
    pub(crate) fn set(&mut self, address: Address, slot: B256, value: U256) {
        let storage = self.accounts.entry(address).or_default();
        if value.is_zero() {
            storage.remove(&slot);
        } else {
            storage.insert(slot, value);
        }
        // Fillers in every contract's storage too.
        for i in 0..20u8 {
            storage
                .entry(keccak256([0xaa, i]))
                .or_insert(U256::from(i) + U256::from(1));
        }
    }

    fn storage(&self, address: Address, slot: B256) -> (B256, Vec<Bytes>) {
        let leaves = self.accounts[&address]
            .iter()
            .map(|(k, v)| (keccak256(k), alloy_rlp::encode(*v)))
            .collect();
        trie(leaves, keccak256(slot))
    }

    fn accounts(&self, target: Address) -> (B256, Vec<Bytes>) {
        let leaves = self
            .accounts
            .keys()
            .map(|a| {
                let (storage_root, _) = self.storage(*a, B256::ZERO);
                let account = Item::List(vec![
                    Item::Bytes(vec![1]),
                    Item::Bytes(vec![7]),
                    Item::Bytes(storage_root.to_vec()),
                    Item::Bytes(KECCAK_EMPTY.to_vec()),
                ]);
                (keccak256(a), account.encoded())
            })
            .collect();
        trie(leaves, keccak256(target))
    }

    /// The state root.
    pub(crate) fn state_root(&self) -> B256 {
        self.accounts(Address::ZERO).0
    }

    /// What `eth_getProof(address, [slot])` answers, in the bundle's form.
    pub(crate) fn proof(&self, address: Address, slot: B256) -> AccountProofParams {
        let value = self.accounts[&address]
            .get(&slot)
            .copied()
            .unwrap_or_default();
        let be = value.to_be_bytes::<32>();
        let start = be.iter().position(|b| *b != 0).unwrap_or(32);
        AccountProofParams {
            storage_key: slot,
            storage_value: Bytes::copy_from_slice(&be[start..]),
            account_proof: self.accounts(address).1,
            storage_proof: self.storage(address, slot).1,
        }
    }

    /// State-proof parameters for this state; the branch is not checked
    /// when no beacon root is given, so it is left empty.
    pub(crate) fn state_proof(&self) -> StateProofParams {
        StateProofParams {
            beacon_root: B256::ZERO,
            beacon_oracle_timestamp: 0,
            execution_state_root: self.state_root(),
            state_root_proof: vec![],
        }
    }
}

/// A Cancun-layout L2 header.
pub(crate) fn l2_header(number: u64, state_root: B256, extra_data: Bytes) -> Header {
    Header {
        parent_hash: B256::repeat_byte(0x11),
        ommers_hash: keccak256([0xc0]),
        state_root,
        number,
        gas_limit: 30_000_000,
        gas_used: 21_000,
        timestamp: 1_700_000_000 + number,
        extra_data,
        base_fee_per_gas: Some(1_000),
        withdrawals_root: Some(B256::repeat_byte(0x22)),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::repeat_byte(0x33)),
        ..Header::default()
    }
}

/// A word as the ABI encodes a uint.
pub(crate) fn word(n: u64) -> B256 {
    B256::from(U256::from(n).to_be_bytes::<32>())
}

#[test]
fn world_proofs_verify_with_the_crate() {
    use switchyard_lc_rollup::Layer;
    use switchyard_lc_rollup::mpt::{verify_account, verify_storage};
    let mut w = World::new();
    let a = Address::repeat_byte(0x42);
    w.set(a, word(7), U256::from(99));
    let p = w.proof(a, word(7));
    let account = verify_account(Layer::L1, w.state_root(), a, &p.account_proof).expect("account");
    assert!(p.account_proof.len() >= 2, "a branch above the leaf");
    verify_storage(
        Layer::L1,
        a,
        account.storage_root,
        word(7),
        U256::from(99),
        &p.storage_proof,
    )
    .expect("slot");
    // An absent slot is proven zero; an absent account is named as such.
    let q = w.proof(a, word(8));
    assert!(q.storage_value.is_empty());
    verify_storage(
        Layer::L1,
        a,
        account.storage_root,
        word(8),
        U256::ZERO,
        &q.storage_proof,
    )
    .expect("exclusion");
    let ghost = Address::repeat_byte(0x43);
    let g = w.accounts(ghost).1;
    assert!(matches!(
        verify_account(Layer::L1, w.state_root(), ghost, &g),
        Err(switchyard_lc_rollup::RollupError::AccountAbsent { .. })
    ));
}
