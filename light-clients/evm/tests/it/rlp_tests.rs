//! ethereum/tests RLPTests through the strict generic decoder.

use switchyard_lc_evm::rlp::Item;

use crate::vectors;

/// A decimal big integer (the `#`-prefixed inputs) as minimal big-endian
/// bytes.
fn decimal_to_be(digits: &str) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    for d in digits.bytes() {
        assert!(d.is_ascii_digit(), "bad digit in {digits}");
        let mut carry = u32::from(d - b'0');
        for byte in out.iter_mut().rev() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            out.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    out
}

/// The item a test's `in` value denotes.
fn expected_item(v: &serde_json::Value) -> Item {
    match v {
        serde_json::Value::String(s) => match s.strip_prefix('#') {
            Some(digits) => Item::Bytes(decimal_to_be(digits)),
            None => Item::Bytes(s.as_bytes().to_vec()),
        },
        serde_json::Value::Number(n) => {
            let n = n.as_u64().expect("small integers fit u64");
            Item::Bytes(decimal_to_be(&n.to_string()))
        }
        serde_json::Value::Array(items) => Item::List(items.iter().map(expected_item).collect()),
        other => panic!("unexpected rlp test input {other}"),
    }
}

#[test]
fn decimal_conversion() {
    assert_eq!(decimal_to_be("0"), Vec::<u8>::new());
    assert_eq!(decimal_to_be("256"), vec![1, 0]);
    assert_eq!(decimal_to_be("100000"), vec![0x01, 0x86, 0xa0]);
}

#[test]
fn valid_encodings_decode_and_re_encode() {
    let cases = vectors::json("ethereum-tests/RLPTests/rlptest.json");
    let cases = cases.as_object().expect("an object of cases");
    for (name, case) in cases {
        let encoded = vectors::hex_bytes(case["out"].as_str().expect("out"));
        let item = Item::decode(&encoded).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(item.encoded(), encoded, "{name}: re-encoding");
        assert_eq!(item, expected_item(&case["in"]), "{name}: decoded value");
        assert_eq!(
            expected_item(&case["in"]).encoded(),
            encoded,
            "{name}: encoding of in"
        );
    }
    assert_eq!(cases.len(), 28);
}

#[test]
fn invalid_encodings_are_refused() {
    let cases = vectors::json("ethereum-tests/RLPTests/invalidRLPTest.json");
    let cases = cases.as_object().expect("an object of cases");
    for (name, case) in cases {
        assert_eq!(case["in"], "INVALID", "{name}");
        let encoded = vectors::hex_bytes(case["out"].as_str().expect("out"));
        let result = Item::decode(&encoded);
        assert!(result.is_err(), "{name}: accepted as {result:?}");
    }
    assert_eq!(cases.len(), 26);
}

#[test]
fn random_rlp_examples_round_trip() {
    let cases = vectors::json("ethereum-tests/RLPTests/RandomRLPTests/example.json");
    let cases = cases.as_object().expect("an object of cases");
    for (name, case) in cases {
        assert_eq!(case["in"], "VALID", "{name}");
        let encoded = vectors::hex_bytes(case["out"].as_str().expect("out"));
        let item = Item::decode(&encoded).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(item.encoded(), encoded, "{name}");
    }
    assert_eq!(cases.len(), 1);
}
