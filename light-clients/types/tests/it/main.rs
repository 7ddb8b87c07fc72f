//! Integration tests of `switchyard-types`, one binary (reth layout). The
//! vector runners read the Hyperlane files described in
//! `shared/vectors/SOURCES.md` §4 and fail, never skip, when they are absent.

mod domain_hash;
mod merkle;
mod message;
mod proofs;
mod props;
mod vectors;
