//! Property tests, cross-checked against alloy where alloy has the same
//! object: header hashes and encodings of every fork layout, receipt
//! encodings and receipt roots of every type. Plus round trips of the header
//! codec and of Dispatch extraction, and header-chain linking.

use alloy::consensus::proofs::calculate_receipt_root;
use alloy::consensus::{Eip658Value, ReceiptEnvelope, ReceiptWithBloom};
use alloy::eips::eip2718::Encodable2718;
use proptest::prelude::*;
use switchyard_lc_evm::trie::trie_root;
use switchyard_lc_evm::{
    Address, B64, B256, BlockRef, Bloom, Bytes, DISPATCH_TOPIC, Error, Header, HeaderChain,
    HeaderLayout, Log, Message, Receipt, TxType, U256, extract_messages, receipts_root,
};

fn b256() -> impl Strategy<Value = B256> {
    any::<[u8; 32]>().prop_map(B256::from)
}

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address::from)
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

/// Integers spread over every encoded length, small values included.
fn int() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..200, any::<u64>(), (0u32..64).prop_map(|s| 1u64 << s)]
}

fn layout() -> impl Strategy<Value = HeaderLayout> {
    prop_oneof![
        Just(HeaderLayout::Legacy),
        Just(HeaderLayout::London),
        Just(HeaderLayout::Shanghai),
        Just(HeaderLayout::Cancun),
        Just(HeaderLayout::Prague),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    let base = (
        (b256(), b256(), address(), b256(), b256(), b256()),
        (
            any::<[u8; 256]>(),
            any::<[u8; 32]>(),
            int(),
            int(),
            int(),
            int(),
        ),
        (bytes(64), b256(), any::<[u8; 8]>()),
    );
    let optional = (int(), b256(), int(), int(), b256(), b256());
    (base, optional, layout()).prop_map(
        |(
            (
                (parent, ommers, beneficiary, state, txs, receipts),
                (bloom, diff, number, gl, gu, ts),
                (extra, mix, nonce),
            ),
            (base_fee, withdrawals, blob_used, excess, beacon, requests),
            layout,
        )| {
            let mut h = Header {
                parent_hash: parent,
                ommers_hash: ommers,
                beneficiary,
                state_root: state,
                transactions_root: txs,
                receipts_root: receipts,
                logs_bloom: Bloom::from(bloom),
                // Difficulties of every length, zero (post-Merge) included.
                difficulty: U256::from_be_bytes(diff) >> (usize::from(diff[0]) % 257),
                number,
                gas_limit: gl,
                gas_used: gu,
                timestamp: ts,
                extra_data: extra,
                mix_hash: mix,
                nonce: B64::from(nonce),
                ..Header::default()
            };
            if layout >= HeaderLayout::London {
                h.base_fee_per_gas = Some(base_fee);
            }
            if layout >= HeaderLayout::Shanghai {
                h.withdrawals_root = Some(withdrawals);
            }
            if layout >= HeaderLayout::Cancun {
                h.blob_gas_used = Some(blob_used);
                h.excess_blob_gas = Some(excess);
                h.parent_beacon_block_root = Some(beacon);
            }
            if layout >= HeaderLayout::Prague {
                h.requests_hash = Some(requests);
            }
            h
        },
    )
}

fn to_alloy_header(h: &Header) -> alloy::consensus::Header {
    alloy::consensus::Header {
        parent_hash: h.parent_hash,
        ommers_hash: h.ommers_hash,
        beneficiary: h.beneficiary,
        state_root: h.state_root,
        transactions_root: h.transactions_root,
        receipts_root: h.receipts_root,
        logs_bloom: h.logs_bloom,
        difficulty: h.difficulty,
        number: h.number,
        gas_limit: h.gas_limit,
        gas_used: h.gas_used,
        timestamp: h.timestamp,
        extra_data: h.extra_data.clone(),
        mix_hash: h.mix_hash,
        nonce: h.nonce,
        base_fee_per_gas: h.base_fee_per_gas,
        withdrawals_root: h.withdrawals_root,
        blob_gas_used: h.blob_gas_used,
        excess_blob_gas: h.excess_blob_gas,
        parent_beacon_block_root: h.parent_beacon_block_root,
        requests_hash: h.requests_hash,
        ..Default::default()
    }
}

fn log() -> impl Strategy<Value = Log> {
    (address(), prop::collection::vec(b256(), 0..=4), bytes(200)).prop_map(
        |(address, topics, data)| Log {
            address,
            topics,
            data,
        },
    )
}

fn receipt() -> impl Strategy<Value = Receipt> {
    (
        0u8..=4,
        any::<bool>(),
        int(),
        any::<[u8; 256]>(),
        prop::collection::vec(log(), 0..4),
    )
        .prop_map(|(t, status, gas, bloom, logs)| Receipt {
            tx_type: TxType::try_from(t).expect("0..=4"),
            status,
            cumulative_gas_used: gas,
            logs_bloom: Bloom::from(bloom),
            logs,
        })
}

fn to_alloy_receipt(r: &Receipt) -> ReceiptEnvelope {
    let inner = ReceiptWithBloom {
        receipt: alloy::consensus::Receipt {
            status: Eip658Value::Eip658(r.status),
            cumulative_gas_used: r.cumulative_gas_used,
            logs: r
                .logs
                .iter()
                .map(|l| {
                    alloy::primitives::Log::new_unchecked(
                        l.address,
                        l.topics.clone(),
                        l.data.clone(),
                    )
                })
                .collect(),
        },
        logs_bloom: r.logs_bloom,
    };
    match r.tx_type {
        TxType::Legacy => ReceiptEnvelope::Legacy(inner),
        TxType::Eip2930 => ReceiptEnvelope::Eip2930(inner),
        TxType::Eip1559 => ReceiptEnvelope::Eip1559(inner),
        TxType::Eip4844 => ReceiptEnvelope::Eip4844(inner),
        TxType::Eip7702 => ReceiptEnvelope::Eip7702(inner),
    }
}

/// Key of receipt `i` in the receipt trie: rlp(i).
fn index_key(i: usize) -> Vec<u8> {
    let be = (i as u64).to_be_bytes();
    let trimmed: Vec<u8> = be.iter().skip_while(|b| **b == 0).copied().collect();
    let mut out = Vec::new();
    switchyard_lc_evm::rlp::Item::Bytes(trimmed).encode(&mut out);
    out
}

fn message(origin: u32) -> impl Strategy<Value = Message> {
    (any::<u32>(), address(), any::<u32>(), b256(), bytes(300)).prop_map(
        move |(nonce, sender, destination, recipient, body)| Message {
            version: 3,
            nonce,
            origin,
            sender: B256::left_padding_from(sender.as_slice()),
            destination,
            recipient,
            body,
        },
    )
}

fn abi_encode_bytes(value: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 64];
    out[31] = 32;
    out[56..64].copy_from_slice(&(value.len() as u64).to_be_bytes());
    out.extend_from_slice(value);
    out.resize(64 + value.len().div_ceil(32) * 32, 0);
    out
}

fn dispatch_log(mailbox: Address, m: &Message) -> Log {
    Log {
        address: mailbox,
        topics: vec![
            DISPATCH_TOPIC,
            m.sender,
            B256::left_padding_from(&m.destination.to_be_bytes()),
            m.recipient,
        ],
        data: abi_encode_bytes(&m.encode()).into(),
    }
}

/// Headers linked onto `parent`, with varied contents.
fn linked(parent: BlockRef, n: usize, seed: u64) -> Vec<Header> {
    let mut out = Vec::with_capacity(n);
    let mut prev = parent;
    for i in 0..n as u64 {
        let h = Header {
            parent_hash: prev.hash,
            number: prev.number + 1,
            timestamp: seed.wrapping_add(i * 12),
            gas_used: seed ^ i,
            base_fee_per_gas: Some(7),
            withdrawals_root: Some(B256::ZERO),
            ..Header::default()
        };
        prev = BlockRef {
            number: h.number,
            hash: h.hash(),
        };
        out.push(h);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn header_hash_matches_alloy(h in header()) {
        let theirs = to_alloy_header(&h);
        prop_assert_eq!(h.encoded(), alloy::rlp::encode(&theirs));
        prop_assert_eq!(h.hash(), theirs.hash_slow());
    }

    #[test]
    fn header_rlp_round_trips(h in header()) {
        let encoded = h.encoded();
        prop_assert_eq!(encoded.len(), h.encoded_len());
        let theirs: alloy::consensus::Header =
            alloy::rlp::Decodable::decode(&mut encoded.as_slice()).expect("alloy decodes");
        prop_assert_eq!(theirs, to_alloy_header(&h));
        prop_assert_eq!(Header::decode(&encoded).expect("decodes"), h);
    }

    #[test]
    fn truncated_header_is_refused(h in header(), cut in any::<prop::sample::Index>()) {
        let encoded = h.encoded();
        let len = cut.index(encoded.len());
        prop_assert!(Header::decode(&encoded[..len]).is_err());
    }

    #[test]
    fn receipt_encoding_matches_alloy(r in receipt()) {
        let theirs = to_alloy_receipt(&r);
        prop_assert_eq!(r.encoded_2718(), theirs.encoded_2718());
        prop_assert_eq!(Receipt::decode_2718(&r.encoded_2718()).expect("decodes"), r);
    }

    #[test]
    fn receipts_root_matches_alloy_and_the_generic_trie(
        receipts in prop::collection::vec(receipt(), 0..160)
    ) {
        let ours = receipts_root(&receipts);
        let theirs: Vec<ReceiptEnvelope> = receipts.iter().map(to_alloy_receipt).collect();
        prop_assert_eq!(ours, calculate_receipt_root(&theirs));
        let generic = trie_root(
            receipts.iter().enumerate().map(|(i, r)| (index_key(i), r.encoded_2718())),
        );
        prop_assert_eq!(ours, generic);
    }

    #[test]
    fn dispatch_logs_round_trip(
        messages in prop::collection::vec(message(77), 1..8),
        noise in prop::collection::vec(log(), 0..6),
        split in any::<prop::sample::Index>(),
    ) {
        let mailbox = Address::repeat_byte(0x3a);
        // Noise first, then the dispatches spread over two receipts.
        let mut logs: Vec<Log> = noise;
        logs.extend(messages.iter().map(|m| dispatch_log(mailbox, m)));
        let at = split.index(logs.len() + 1);
        let second = logs.split_off(at);
        let receipts = vec![
            Receipt { tx_type: TxType::Eip1559, status: true, logs, ..Receipt::default() },
            Receipt { tx_type: TxType::Legacy, status: true, logs: second, ..Receipt::default() },
        ];
        let header = Header {
            number: 9,
            parent_hash: B256::repeat_byte(8),
            receipts_root: receipts_root(&receipts),
            ..Header::default()
        };
        let mut chain = HeaderChain::new(BlockRef { number: 8, hash: B256::repeat_byte(8) }, 0, 4)
            .expect("config");
        let v = chain.verify_header(&header).expect("links");
        chain.apply_header(v).expect("applies");
        let block = chain.verify_block(&header, &receipts).expect("verifies");
        let out = extract_messages(&block, mailbox, 77);
        prop_assert!(out.rejected.is_empty(), "{:?}", out.rejected);
        let got: Vec<Message> = out.messages.iter().map(|p| p.message.clone()).collect();
        prop_assert_eq!(&got, &messages);
        for p in &out.messages {
            let (tx, i, log) = block.logs().nth(p.log_index).expect("position exists");
            prop_assert_eq!(tx, p.tx_index);
            prop_assert_eq!(i, p.log_index);
            prop_assert_eq!(log.clone(), dispatch_log(mailbox, &p.message));
        }
        // Another origin: every dispatch refused, none relayed.
        let out = extract_messages(&block, mailbox, 78);
        prop_assert!(out.messages.is_empty());
        prop_assert_eq!(out.rejected.len(), messages.len());
    }

    #[test]
    fn linked_chain_verifies_and_a_broken_link_is_refused(
        n in 2usize..40,
        seed in any::<u64>(),
        at in any::<prop::sample::Index>(),
    ) {
        let checkpoint = BlockRef { number: 1_000, hash: B256::repeat_byte(0xc0) };
        let headers = linked(checkpoint, n, seed);
        let mut chain = HeaderChain::new(checkpoint, 3, 16).expect("config");
        for h in &headers {
            let v = chain.verify_header(h).expect("links");
            chain.apply_header(v).expect("applies");
        }
        prop_assert_eq!(chain.tip(), BlockRef { number: 1_000 + n as u64, hash: headers[n - 1].hash() });
        prop_assert!(chain.window().len() <= 16);

        // Alter header k-1 after the fact: header k no longer links to it.
        let k = 1 + at.index(n - 1);
        let mut altered = headers[k - 1].clone();
        altered.extra_data = Bytes::from_static(b"fork");
        let mut chain = HeaderChain::new(checkpoint, 3, 16).expect("config");
        for h in headers[..k - 1].iter().chain(std::iter::once(&altered)) {
            let v = chain.verify_header(h).expect("links");
            chain.apply_header(v).expect("applies");
        }
        let before = chain.clone();
        prop_assert_eq!(
            chain.verify_header(&headers[k]),
            Err(Error::ParentMismatch {
                height: headers[k].number,
                expected: altered.hash(),
                got: headers[k - 1].hash(),
            })
        );
        prop_assert_eq!(chain, before);
    }
}
