//! The attestation an Inbox checks: an EIP-712 signature over
//! `Batch(bytes32 root)` in the domain ("Switchyard Inbox", "1", destination
//! chain id, Inbox address), so a signature for one chain or Inbox is useless
//! on another. `root` is [`switchyard_types::batch_root`] of the batch's ids.

use std::sync::LazyLock;

use alloy::primitives::{Address, B256, keccak256};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, SECP256K1, SecretKey};

use crate::EvmError;

/// keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
/// and the hashed name and version, computed once: the digest is on the
/// path of every batch (signing here, checking in a verifying sink).
static DOMAIN_CONSTS: LazyLock<[B256; 4]> = LazyLock::new(|| {
    [
        keccak256(
            b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
        ),
        keccak256(b"Switchyard Inbox"),
        keccak256(b"1"),
        keccak256(b"Batch(bytes32 root)"),
    ]
});

/// The EIP-712 digest an attester signs for `root` on (`chain_id`, `inbox`):
/// `keccak256(0x1901 ‖ domainSeparator ‖ keccak256(BATCH_TYPEHASH ‖ root))`,
/// written out (a test checks it against alloy's generic EIP-712 encoder)
/// because the generic path allocates and re-hashes the constant strings.
pub fn batch_digest(chain_id: u64, inbox: Address, root: B256) -> B256 {
    let [domain_type, name, version, batch_type] = *DOMAIN_CONSTS;
    let mut d = [0u8; 160];
    d[..32].copy_from_slice(domain_type.as_slice());
    d[32..64].copy_from_slice(name.as_slice());
    d[64..96].copy_from_slice(version.as_slice());
    d[120..128].copy_from_slice(&chain_id.to_be_bytes());
    d[140..160].copy_from_slice(inbox.as_slice());
    let separator = keccak256(d);
    let mut st = [0u8; 64];
    st[..32].copy_from_slice(batch_type.as_slice());
    st[32..].copy_from_slice(root.as_slice());
    let struct_hash = keccak256(st);
    let mut m = [0u8; 66];
    m[..2].copy_from_slice(&[0x19, 0x01]);
    m[2..34].copy_from_slice(separator.as_slice());
    m[34..].copy_from_slice(struct_hash.as_slice());
    keccak256(m)
}

/// The address whose key made `sig` (65 bytes `r ‖ s ‖ v`, v = 27 or 28)
/// over `digest`, as the Inbox's ecrecover sees it; high-s signatures are
/// refused as the Inbox refuses them.
pub fn recover_signer(digest: B256, sig: &[u8]) -> Result<Address, EvmError> {
    let bad = |reason: String| EvmError::Key {
        what: "attestation signature".to_owned(),
        reason,
    };
    let sig: &[u8; 65] = sig
        .try_into()
        .map_err(|_| bad(format!("expected 65 bytes, got {}", sig.len())))?;
    let v = match sig[64] {
        27 | 28 => sig[64] - 27,
        other => return Err(bad(format!("v expected 27 or 28, got {other}"))),
    };
    let rec = RecoverableSignature::from_compact(&sig[..64], RecoveryId::from_u8_masked(v))
        .map_err(|e| bad(format!("malformed r or s: {e}")))?;
    let plain = rec.to_standard();
    let mut normalized = plain;
    normalized.normalize_s();
    if normalized != plain {
        return Err(bad(
            "s is in the upper half of the curve order (malleable)".into()
        ));
    }
    let key = SECP256K1
        .recover_ecdsa(Message::from_digest(digest.0), &rec)
        .map_err(|e| bad(format!("does not recover: {e}")))?;
    Ok(Address::from_raw_public_key(
        &key.serialize_uncompressed()[1..],
    ))
}

/// A hub's attestation key. `Debug` shows the address only.
#[derive(Clone)]
pub struct Attester {
    key: SecretKey,
    address: Address,
}

impl std::fmt::Debug for Attester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attester")
            .field("address", &self.address)
            .finish()
    }
}

impl Attester {
    /// Parses a hex private key; `what` names its source for errors (never
    /// the key itself).
    pub fn from_hex(key: &str, what: &str) -> Result<Self, EvmError> {
        let bad = || EvmError::Key {
            what: what.to_owned(),
            reason: "expected a 32-byte hex secp256k1 private key".to_owned(),
        };
        let text = key.trim();
        let text = text.strip_prefix("0x").unwrap_or(text);
        let mut raw = [0u8; 32];
        if text.len() != 64 {
            return Err(bad());
        }
        for (i, b) in raw.iter_mut().enumerate() {
            *b = u8::from_str_radix(text.get(2 * i..2 * i + 2).ok_or_else(bad)?, 16)
                .map_err(|_| bad())?;
        }
        let key = SecretKey::from_byte_array(raw).map_err(|_| bad())?;
        let public = key.public_key(SECP256K1);
        let address = Address::from_raw_public_key(&public.serialize_uncompressed()[1..]);
        Ok(Self { key, address })
    }

    /// A 32-byte key for `purpose`, derived from this signing key
    /// (keccak256 of a label and the key): an attester's own store is
    /// authenticated with it, so the attester needs no other secret.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let mut data = Vec::with_capacity(64 + purpose.len());
        data.extend_from_slice(b"switchyard attester derived key\0");
        data.extend_from_slice(purpose.as_bytes());
        data.push(0);
        data.extend_from_slice(&self.key.secret_bytes());
        keccak256(&data).0
    }

    /// The attester's address, as registered in the Inbox.
    pub fn address(&self) -> Address {
        self.address
    }

    /// 65-byte `r ‖ s ‖ v` (v = 27 or 28) signature of the batch digest, the
    /// form the Inbox's ecrecover check takes. RFC 6979 nonces, low s.
    pub fn sign_batch(
        &self,
        chain_id: u64,
        inbox: Address,
        root: B256,
    ) -> Result<[u8; 65], EvmError> {
        let digest = batch_digest(chain_id, inbox, root);
        let (id, rs) = SECP256K1
            .sign_ecdsa_recoverable(Message::from_digest(digest.0), &self.key)
            .serialize_compact();
        let mut out = [0u8; 65];
        out[..64].copy_from_slice(&rs);
        out[64] = 27
            + u8::try_from(i32::from(id)).map_err(|_| EvmError::Key {
                what: format!("attester {}", self.address),
                reason: "recovery id out of range".to_owned(),
            })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Signature, address, b256};

    // anvil's first dev key: a public test key, never a real secret.
    const KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn signature_recovers_to_attester_and_binds_domain() {
        let a = Attester::from_hex(KEY, "test").expect("valid key");
        assert_eq!(
            a.address(),
            address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")
        );
        let inbox = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
        let root = b256!("1111111111111111111111111111111111111111111111111111111111111111");
        let sig = a.sign_batch(31337, inbox, root).expect("signs");
        assert!(
            sig[64] == 27 || sig[64] == 28,
            "v must be 27/28 for ecrecover, got {}",
            sig[64]
        );
        let parsed = Signature::from_raw(&sig).expect("65 bytes");
        let digest = batch_digest(31337, inbox, root);
        assert_eq!(
            parsed
                .recover_address_from_prehash(&digest)
                .expect("recovers"),
            a.address()
        );
        // Another chain id or another Inbox gives another digest.
        assert_ne!(digest, batch_digest(31338, inbox, root));
        assert_ne!(digest, batch_digest(31337, Address::ZERO, root));
    }

    #[test]
    fn digest_matches_alloy_eip712_and_signatures_match_alloy_signer() {
        use alloy::signers::SignerSync;
        use alloy::signers::local::PrivateKeySigner;
        use alloy::sol_types::{SolStruct, eip712_domain};
        let signer: PrivateKeySigner = KEY.parse().expect("key");
        let a = Attester::from_hex(KEY, "test").expect("valid key");
        for (chain_id, inbox_byte, root_byte) in [
            (1u64, 1u8, 0u8),
            (31337, 0x5f, 0x11),
            (u64::MAX, 0xff, 0xee),
        ] {
            let inbox = Address::repeat_byte(inbox_byte);
            let root = B256::repeat_byte(root_byte);
            let domain = eip712_domain! {
                name: "Switchyard Inbox",
                version: "1",
                chain_id: chain_id,
                verifying_contract: inbox,
            };
            let want = crate::bindings::Batch { root }.eip712_signing_hash(&domain);
            assert_eq!(
                batch_digest(chain_id, inbox, root),
                want,
                "chain {chain_id}"
            );
            // RFC 6979 on both sides: byte-identical signatures.
            let ours = a.sign_batch(chain_id, inbox, root).expect("signs");
            let theirs = signer.sign_hash_sync(&want).expect("signs").as_bytes();
            assert_eq!(ours, theirs);
            assert_eq!(recover_signer(want, &ours).expect("recovers"), a.address());
        }
    }

    #[test]
    fn recover_refuses_malformed_and_malleable_signatures() {
        let a = Attester::from_hex(KEY, "test").expect("valid key");
        let digest = B256::repeat_byte(7);
        let sig = a.sign_batch(1, Address::ZERO, B256::ZERO).expect("signs");
        let digest_signed = batch_digest(1, Address::ZERO, B256::ZERO);
        assert_eq!(
            recover_signer(digest_signed, &sig).expect("ok"),
            a.address()
        );
        // Another digest recovers another address (or none), never ours.
        assert_ne!(recover_signer(digest, &sig).ok(), Some(a.address()));
        let err = recover_signer(digest_signed, &sig[..64]).expect_err("short");
        assert!(
            err.to_string().contains("expected 65 bytes, got 64"),
            "{err}"
        );
        let mut bad_v = sig;
        bad_v[64] = 29;
        let err = recover_signer(digest_signed, &bad_v).expect_err("v");
        assert!(
            err.to_string().contains("v expected 27 or 28, got 29"),
            "{err}"
        );
        // The same signature with s' = n - s (and v flipped): valid to a
        // naive ecrecover, refused here as by the Inbox.
        let n = alloy::primitives::U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .expect("n");
        let s = alloy::primitives::U256::from_be_slice(&sig[32..64]);
        let mut high = sig;
        high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        high[64] = if sig[64] == 27 { 28 } else { 27 };
        let err = recover_signer(digest_signed, &high).expect_err("high s");
        assert!(err.to_string().contains("malleable"), "{err}");
    }

    #[test]
    fn bad_key_error_does_not_echo_the_key() {
        let err = Attester::from_hex("0xnot-a-key-secret", "signer.attester_key").expect_err("bad");
        let text = err.to_string();
        assert!(!text.contains("not-a-key-secret"), "{text}");
        assert!(text.contains("signer.attester_key"), "{text}");
    }
}
