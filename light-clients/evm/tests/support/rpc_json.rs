//! Execution JSON-RPC objects (`eth_getBlockByNumber`, receipts) as the
//! light client's types: shared by the tests and the benchmarks that run
//! on helios' recorded mainnet block.

use serde_json::Value;
use switchyard_lc_evm::{Address, B64, B256, Bloom, Bytes, Header, Log, Receipt, TxType, U256};

fn hex_bytes(s: &str) -> Vec<u8> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

fn field<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("missing string field {name}"))
}

pub(crate) fn quantity(v: &Value, name: &str) -> u64 {
    let s = field(v, name);
    u64::from_str_radix(s.strip_prefix("0x").expect("0x quantity"), 16).expect("u64 quantity")
}

fn opt_quantity(v: &Value, name: &str) -> Option<u64> {
    v.get(name).map(|_| quantity(v, name))
}

pub(crate) fn b256(v: &Value, name: &str) -> B256 {
    field(v, name).parse().expect("32-byte hex")
}

fn opt_b256(v: &Value, name: &str) -> Option<B256> {
    v.get(name).map(|_| b256(v, name))
}

pub(crate) fn header_from_rpc(b: &Value) -> Header {
    Header {
        parent_hash: b256(b, "parentHash"),
        ommers_hash: b256(b, "sha3Uncles"),
        beneficiary: field(b, "miner").parse::<Address>().expect("address"),
        state_root: b256(b, "stateRoot"),
        transactions_root: b256(b, "transactionsRoot"),
        receipts_root: b256(b, "receiptsRoot"),
        logs_bloom: field(b, "logsBloom").parse::<Bloom>().expect("bloom"),
        difficulty: field(b, "difficulty").parse::<U256>().expect("difficulty"),
        number: quantity(b, "number"),
        gas_limit: quantity(b, "gasLimit"),
        gas_used: quantity(b, "gasUsed"),
        timestamp: quantity(b, "timestamp"),
        extra_data: Bytes::from(hex_bytes(field(b, "extraData"))),
        mix_hash: b256(b, "mixHash"),
        nonce: field(b, "nonce").parse::<B64>().expect("nonce"),
        base_fee_per_gas: opt_quantity(b, "baseFeePerGas"),
        withdrawals_root: opt_b256(b, "withdrawalsRoot"),
        blob_gas_used: opt_quantity(b, "blobGasUsed"),
        excess_blob_gas: opt_quantity(b, "excessBlobGas"),
        parent_beacon_block_root: opt_b256(b, "parentBeaconBlockRoot"),
        requests_hash: opt_b256(b, "requestsHash"),
    }
}

pub(crate) fn receipt_from_rpc(r: &Value) -> Receipt {
    let tx_type = u8::try_from(quantity(r, "type")).expect("type fits a byte");
    Receipt {
        tx_type: TxType::try_from(tx_type).expect("types 0 to 4"),
        status: match quantity(r, "status") {
            0 => false,
            1 => true,
            other => panic!("status {other}"),
        },
        cumulative_gas_used: quantity(r, "cumulativeGasUsed"),
        logs_bloom: field(r, "logsBloom").parse().expect("bloom"),
        logs: r["logs"]
            .as_array()
            .expect("logs")
            .iter()
            .map(|l| Log {
                address: field(l, "address").parse().expect("address"),
                topics: l["topics"]
                    .as_array()
                    .expect("topics")
                    .iter()
                    .map(|t| t.as_str().expect("topic").parse().expect("topic hex"))
                    .collect(),
                data: Bytes::from(hex_bytes(field(l, "data"))),
            })
            .collect(),
    }
}
