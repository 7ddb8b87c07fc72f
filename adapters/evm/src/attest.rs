//! The attestation an Inbox checks: an EIP-712 signature over
//! `Batch(bytes32 root)` in the domain ("Switchyard Inbox", "1", destination
//! chain id, Inbox address), so a signature for one chain or Inbox is useless
//! on another. `root` is [`switchyard_types::batch_root`] of the batch's ids.

use alloy::primitives::{Address, B256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolStruct, eip712_domain};

use crate::EvmError;
use crate::bindings::Batch;

/// The EIP-712 digest an attester signs for `root` on (`chain_id`, `inbox`).
pub fn batch_digest(chain_id: u64, inbox: Address, root: B256) -> B256 {
    let domain = eip712_domain! {
        name: "Switchyard Inbox",
        version: "1",
        chain_id: chain_id,
        verifying_contract: inbox,
    };
    Batch { root }.eip712_signing_hash(&domain)
}

/// A hub's attestation key. `Debug` shows the address only.
#[derive(Clone)]
pub struct Attester {
    signer: PrivateKeySigner,
}

impl std::fmt::Debug for Attester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attester")
            .field("address", &self.signer.address())
            .finish()
    }
}

impl Attester {
    /// Parses a hex private key; `what` names its source for errors (never
    /// the key itself).
    pub fn from_hex(key: &str, what: &str) -> Result<Self, EvmError> {
        let signer: PrivateKeySigner = key.trim().parse().map_err(|_| EvmError::Key {
            what: what.to_owned(),
            reason: "expected a 32-byte hex secp256k1 private key".to_owned(),
        })?;
        Ok(Self { signer })
    }

    /// The attester's address, as registered in the Inbox.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// 65-byte `r ‖ s ‖ v` (v = 27 or 28) signature of the batch digest, the
    /// form the Inbox's ecrecover check takes.
    pub fn sign_batch(
        &self,
        chain_id: u64,
        inbox: Address,
        root: B256,
    ) -> Result<[u8; 65], EvmError> {
        let digest = batch_digest(chain_id, inbox, root);
        let sig = self
            .signer
            .sign_hash_sync(&digest)
            .map_err(|e| EvmError::Key {
                what: format!("attester {}", self.signer.address()),
                reason: format!("signing failed: {e}"),
            })?;
        Ok(sig.as_bytes())
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
    fn bad_key_error_does_not_echo_the_key() {
        let err = Attester::from_hex("0xnot-a-key-secret", "signer.attester_key").expect_err("bad");
        let text = err.to_string();
        assert!(!text.contains("not-a-key-secret"), "{text}");
        assert!(text.contains("signer.attester_key"), "{text}");
    }
}
