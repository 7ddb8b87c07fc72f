//! ICS-23 commitment proofs (cosmos/ics23) checked against the app hash of
//! a verified header.
//!
//! A Cosmos SDK `abci_query` with `prove=true` answers with a chain of
//! proof ops, innermost first: the store's own proof of `key = value` under
//! the store root (`ics23:iavl`, or `ics23:smt` for SMT stores), then the
//! multistore's proof of `store name = store root` under the app hash
//! (`ics23:simple`, the Tendermint simple-merkle spec). Each op proves the
//! value the next one commits to; the last one must reach the app hash.

use ics23::commitment_proof::Proof;
use ics23::{CommitmentProof, ExistenceProof, HostFunctionsManager, ProofSpec};
use prost::Message as _;

use crate::error::{Error, Result};

/// The proof op types Cosmos SDK emits (`store/types/proof.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProofKind {
    /// An IAVL store: `ics23:iavl`.
    Iavl,
    /// The multistore's simple merkle map: `ics23:simple`.
    Simple,
    /// A sparse merkle tree store: `ics23:smt`.
    Smt,
}

impl ProofKind {
    /// Parses an ABCI proof op type.
    pub fn parse(op_type: &str) -> Result<Self> {
        match op_type {
            "ics23:iavl" => Ok(Self::Iavl),
            "ics23:simple" => Ok(Self::Simple),
            "ics23:smt" => Ok(Self::Smt),
            other => Err(Error::ProofMalformed {
                reason: format!(
                    "proof op type {other:?}, expected one of ics23:iavl, ics23:simple, ics23:smt"
                ),
            }),
        }
    }

    /// The ABCI proof op type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Iavl => "ics23:iavl",
            Self::Simple => "ics23:simple",
            Self::Smt => "ics23:smt",
        }
    }

    /// The ICS-23 spec the proofs of this kind are checked with.
    pub fn spec(self) -> ProofSpec {
        match self {
            Self::Iavl => ics23::iavl_spec(),
            Self::Simple => ics23::tendermint_spec(),
            Self::Smt => ics23::smt_spec(),
        }
    }
}

/// One step of a proof chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ProofOp {
    /// Which tree the proof is for.
    pub kind: ProofKind,
    /// The key the op claims to prove (checked against the caller's path,
    /// never trusted on its own).
    pub key: Vec<u8>,
    /// The ICS-23 proof.
    pub proof: CommitmentProof,
}

impl ProofOp {
    /// Decodes an ABCI proof op: its type string, key, and protobuf
    /// `CommitmentProof` bytes.
    pub fn decode(op_type: &str, key: &[u8], data: &[u8]) -> Result<Self> {
        let kind = ProofKind::parse(op_type)?;
        let proof = CommitmentProof::decode(data)
            .map_err(|e| Error::decode("ICS-23 CommitmentProof", op_type, e))?;
        let proof = ics23::decompress(&proof).map_err(|e| Error::ProofMalformed {
            reason: format!("cannot decompress {op_type} proof: {e}"),
        })?;
        Ok(Self {
            kind,
            key: key.to_vec(),
            proof,
        })
    }
}

fn short(bytes: &[u8]) -> String {
    if bytes.len() <= 48 {
        hex::encode(bytes)
    } else {
        format!("{}..({} bytes)", hex::encode(&bytes[..32]), bytes.len())
    }
}

fn existence_root(op: usize, proof: &ExistenceProof, kind: ProofKind) -> Result<Vec<u8>> {
    ics23::calculate_existence_root::<HostFunctionsManager>(proof).map_err(|e| {
        Error::ProofMalformed {
            reason: format!("op {op} ({}): cannot compute its root: {e}", kind.as_str()),
        }
    })
}

// The root an op's proof hashes up to, which the next op must prove.
fn op_root(index: usize, op: &ProofOp) -> Result<Vec<u8>> {
    match &op.proof.proof {
        Some(Proof::Exist(e)) => existence_root(index, e, op.kind),
        Some(Proof::Nonexist(n)) => match (&n.left, &n.right) {
            (Some(e), _) | (None, Some(e)) => existence_root(index, e, op.kind),
            (None, None) => Err(Error::ProofMalformed {
                reason: format!("op {index}: non-existence proof with neither neighbour"),
            }),
        },
        _ => Err(Error::ProofMalformed {
            reason: format!("op {index}: expected an existence or non-existence proof"),
        }),
    }
}

fn check_shape(ops: &[ProofOp], path: &[&[u8]]) -> Result<()> {
    if ops.is_empty() || ops.len() != path.len() {
        return Err(Error::ProofMalformed {
            reason: format!(
                "{} proof ops for a path of {} keys, expected one op per key",
                ops.len(),
                path.len()
            ),
        });
    }
    Ok(())
}

// Ops after the first: each proves `path key = root of the previous op`,
// the last under `root`.
fn verify_outer(root: &[u8], ops: &[ProofOp], path: &[&[u8]], mut value: Vec<u8>) -> Result<()> {
    for (i, op) in ops.iter().enumerate().skip(1) {
        let key = path[path.len() - 1 - i];
        let op_root = if i + 1 == ops.len() {
            root.to_vec()
        } else {
            op_root(i, op)?
        };
        if !ics23::verify_membership::<HostFunctionsManager>(
            &op.proof,
            &op.kind.spec(),
            &op_root,
            key,
            &value,
        ) {
            return Err(Error::ProofInvalid {
                op: i,
                kind: op.kind.as_str().to_owned(),
                claim: format!(
                    "key {} = {} under root {}",
                    short(key),
                    short(&value),
                    short(&op_root)
                ),
            });
        }
        value = op_root;
    }
    Ok(())
}

/// Checks that `path` (outermost key first, e.g. `[store name, key]`)
/// holds `value` under `root` (a verified header's app hash), with `ops`
/// innermost first as `abci_query` returns them.
pub fn verify_membership(root: &[u8], ops: &[ProofOp], path: &[&[u8]], value: &[u8]) -> Result<()> {
    check_shape(ops, path)?;
    let first = &ops[0];
    let key = path[path.len() - 1];
    let first_root = if ops.len() == 1 {
        root.to_vec()
    } else {
        op_root(0, first)?
    };
    if !ics23::verify_membership::<HostFunctionsManager>(
        &first.proof,
        &first.kind.spec(),
        &first_root,
        key,
        value,
    ) {
        return Err(Error::ProofInvalid {
            op: 0,
            kind: first.kind.as_str().to_owned(),
            claim: format!(
                "key {} = {} under root {}",
                short(key),
                short(value),
                short(&first_root)
            ),
        });
    }
    verify_outer(root, ops, path, first_root)
}

/// Checks that `path` (outermost key first) holds no value under `root`:
/// the innermost op is a non-existence proof, the outer ones prove the
/// store root as in [`verify_membership`].
pub fn verify_non_membership(root: &[u8], ops: &[ProofOp], path: &[&[u8]]) -> Result<()> {
    check_shape(ops, path)?;
    let first = &ops[0];
    let key = path[path.len() - 1];
    let first_root = if ops.len() == 1 {
        root.to_vec()
    } else {
        op_root(0, first)?
    };
    if !ics23::verify_non_membership::<HostFunctionsManager>(
        &first.proof,
        &first.kind.spec(),
        &first_root,
        key,
    ) {
        return Err(Error::ProofInvalid {
            op: 0,
            kind: first.kind.as_str().to_owned(),
            claim: format!(
                "key {} absent under root {}",
                short(key),
                short(&first_root)
            ),
        });
    }
    verify_outer(root, ops, path, first_root)
}
