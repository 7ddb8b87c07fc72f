//! The test kit against the light client's public API: what the kit signs
//! is accepted (bootstrap, a period's update with its next committee,
//! finality in the next period with the committee rotating, an optimistic
//! update), through the beacon API's JSON as well; a wrong signature, a
//! wrong fork version, a wrong branch or a wrong execution payload is
//! refused. Both state layouts: Deneb's and Electra's generalized indices.

use alloy_primitives::{B256, Bloom, Bytes, b256};
use switchyard_lc_beacon::execution::bind_execution;
use switchyard_lc_beacon::testkit::{Committee, TestChain, execution_payload};
use switchyard_lc_beacon::{
    ChainSpec, Error, ExecutionPayloadHeader, Fork, ForkEntry, LightClientStore, Preset, Proof,
    json,
};
use switchyard_lc_evm::Header;

/// A minimal-preset network whose newest fork is `last` (every fork from
/// genesis, as devnets schedule them).
fn network(last: Fork) -> ChainSpec {
    ChainSpec {
        preset: Preset::MINIMAL,
        genesis_validators_root: b256!(
            "5757575757575757575757575757575757575757575757575757575757575757"
        ),
        forks: Fork::ALL
            .into_iter()
            .filter(|f| *f <= last)
            .enumerate()
            .map(|(i, fork)| ForkEntry {
                fork,
                version: [i as u8, 0, 0, 0x57],
                epoch: 0,
            })
            .collect(),
    }
}

/// An execution block header as a Prague node serves it.
fn block(number: u64) -> Header {
    Header {
        parent_hash: B256::repeat_byte(number as u8),
        ommers_hash: b256!("1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"),
        state_root: B256::repeat_byte(2),
        transactions_root: B256::repeat_byte(3),
        receipts_root: B256::repeat_byte(4),
        logs_bloom: Bloom::repeat_byte(5),
        number,
        gas_limit: 30_000_000,
        gas_used: 21_000,
        timestamp: 1_700_000_000 + number,
        extra_data: Bytes::from_static(b"testkit"),
        base_fee_per_gas: Some(7),
        withdrawals_root: Some(B256::repeat_byte(6)),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::repeat_byte(8)),
        requests_hash: Some(B256::repeat_byte(9)),
        ..Header::default()
    }
}

fn payload(number: u64) -> ExecutionPayloadHeader {
    execution_payload(&block(number)).expect("fits")
}

/// Slot `offset` of sync-committee period `period` (64 slots in minimal).
fn slot(period: u64, offset: u64) -> u64 {
    period * 64 + offset
}

#[test]
fn the_light_client_follows_a_kit_chain_across_periods_and_binds_its_execution_blocks() {
    for last in [Fork::Deneb, Fork::Electra] {
        let chain = TestChain::new(network(last), b"kit");
        let spec = chain.spec().clone();
        let preset = spec.preset;

        let bootstrap = chain.bootstrap(slot(10, 1), payload(100)).expect("builds");
        let root = bootstrap.header.beacon_root();
        let served = chain.bootstrap_json(&bootstrap).to_string();
        let decoded = json::bootstrap_from_json(&served).expect("decodes");
        assert_eq!(decoded, bootstrap, "{last:?}");
        let mut store =
            LightClientStore::from_bootstrap(root, decoded, spec.clone()).expect("bootstraps");
        // The finalized header binds to the execution block it carries.
        let anchor = bind_execution(store.finalized_header(), &spec, &block(100)).expect("binds");
        assert_eq!(anchor.hash, block(100).hash());

        // Period 10's update: finality inside the period, next committee.
        let finalized = chain.header(slot(10, 8), payload(107)).expect("builds");
        let update = chain
            .update(
                slot(10, 16),
                payload(115),
                Some(&finalized),
                true,
                slot(10, 17),
            )
            .expect("builds");
        let served = format!("[{}]", chain.update_json(&update));
        let decoded = json::updates_from_json(&served, &preset).expect("decodes");
        assert_eq!(decoded, vec![update.clone()], "{last:?}");
        let v = store.verify_update(&update, slot(10, 20)).expect("valid");
        let outcome = store.apply_update(v).expect("applies");
        assert!(outcome.finalized_advanced && outcome.next_committee_learned);
        assert_eq!(
            store.next_sync_committee(),
            Some(chain.committee(11).sync_committee())
        );

        // Finality in period 11, signed by period 11's committee: the
        // store rotates.
        let finalized = chain.header(slot(11, 3), payload(160)).expect("builds");
        let finality = chain
            .finality_update(slot(11, 5), payload(162), &finalized, slot(11, 6))
            .expect("builds");
        let served = chain.finality_update_json(&finality).to_string();
        let decoded = json::finality_update_from_json(&served, &preset).expect("decodes");
        assert_eq!(decoded, finality, "{last:?}");
        let v = store
            .verify_update(&decoded.into(), slot(11, 6))
            .expect("valid");
        let outcome = store.apply_update(v).expect("applies");
        assert!(outcome.finalized_advanced && outcome.committee_rotated);
        assert_eq!(
            store.current_sync_committee(),
            chain.committee(11).sync_committee()
        );
        assert_eq!(store.finalized_header(), &finalized);
        let anchor = bind_execution(store.finalized_header(), &spec, &block(160)).expect("binds");
        assert_eq!(anchor.number, 160);

        // An optimistic update moves the optimistic header only.
        let optimistic = chain
            .optimistic_update(slot(11, 9), payload(168), slot(11, 10))
            .expect("builds");
        let served = chain.optimistic_update_json(&optimistic).to_string();
        let decoded = json::optimistic_update_from_json(&served, &preset).expect("decodes");
        assert_eq!(decoded, optimistic);
        let v = store
            .verify_update(&decoded.into(), slot(11, 10))
            .expect("valid");
        let outcome = store.apply_update(v).expect("applies");
        assert!(outcome.optimistic_advanced && !outcome.finalized_advanced);
        assert_eq!(store.optimistic_header().beacon.slot, slot(11, 9));
    }
}

#[test]
fn the_light_client_refuses_what_the_kit_chain_did_not_sign_or_prove() {
    let chain = TestChain::new(network(Fork::Electra), b"kit");
    let spec = chain.spec().clone();
    let bootstrap = chain.bootstrap(slot(3, 1), payload(10)).expect("builds");
    let root = bootstrap.header.beacon_root();

    // A bootstrap for another root, or with a wrong committee branch.
    assert!(matches!(
        LightClientStore::from_bootstrap(B256::repeat_byte(1), bootstrap.clone(), spec.clone()),
        Err(Error::BootstrapRootMismatch { .. })
    ));
    let mut bad = bootstrap.clone();
    bad.current_sync_committee_branch[2] = B256::repeat_byte(1);
    assert!(matches!(
        LightClientStore::from_bootstrap(root, bad, spec.clone()),
        Err(Error::InvalidBranch {
            proof: Proof::CurrentSyncCommittee,
            ..
        })
    ));
    let store = LightClientStore::from_bootstrap(root, bootstrap, spec.clone()).expect("valid");

    let finalized = chain.header(slot(3, 8), payload(17)).expect("builds");
    let good = chain
        .finality_update(slot(3, 12), payload(21), &finalized, slot(3, 13))
        .expect("builds");
    let now = slot(3, 20);
    let genuine = store
        .verify_update(&good.clone().into(), now)
        .expect("the genuine update is valid");
    assert!(genuine.will_finalize());

    // Signed by another committee (a later period's keys).
    let mut other = good.clone();
    let bits = vec![true; spec.preset.sync_committee_size];
    other.sync_aggregate = chain.committee(4).sign(
        &bits,
        chain.signing_root(&good.attested_header.beacon, slot(3, 13)),
    );
    assert!(matches!(
        store.verify_update(&other.into(), now),
        Err(Error::InvalidSignature { .. })
    ));
    // Signed by the right keys under another network's domain (fork
    // version): a replay from another chain.
    let mut foreign = good.clone();
    let mut spec2 = spec.clone();
    spec2.forks.last_mut().expect("electra").version = [9, 9, 9, 9];
    foreign.sync_aggregate =
        TestChain::new(spec2, b"kit").sign(&good.attested_header.beacon, slot(3, 13));
    assert!(matches!(
        store.verify_update(&foreign.into(), now),
        Err(Error::InvalidSignature { .. })
    ));
    // Half the committee, one key unsigned: not the aggregate of the set bits.
    let mut partial = good.clone();
    let committee: Committee = chain.committee(3);
    let half: Vec<bool> = (0..bits.len()).map(|i| i % 2 == 0).collect();
    partial.sync_aggregate = committee.sign(
        &half,
        chain.signing_root(&good.attested_header.beacon, slot(3, 13)),
    );
    partial.sync_aggregate.sync_committee_bits[1] = true;
    assert!(matches!(
        store.verify_update(&partial.into(), now),
        Err(Error::InvalidSignature { .. })
    ));
    // A finality branch that does not lead to the attested state root.
    let mut branch = good.clone();
    branch.finality.branch[0] = B256::repeat_byte(1);
    assert!(matches!(
        store.verify_update(&branch.into(), now),
        Err(Error::InvalidBranch {
            proof: Proof::Finality,
            ..
        })
    ));
    // Another execution block in the finalized header: its execution
    // branch no longer proves it under the body root.
    let mut execution = good.clone();
    execution.finality.finalized_header.execution = Some(payload(18));
    assert!(matches!(
        store.verify_update(&execution.into(), now),
        Err(Error::InvalidBranch {
            proof: Proof::ExecutionPayload,
            ..
        })
    ));
    // The genuine finalized header does not bind another execution block.
    assert!(matches!(
        bind_execution(&finalized, &spec, &block(18)),
        Err(Error::ExecutionHeaderMismatch { .. })
    ));
    // Signed in the future of the caller's clock: not yet.
    let err = store
        .verify_update(&good.into(), slot(3, 12))
        .expect_err("future");
    assert!(err.is_retryable(), "{err}");
}
