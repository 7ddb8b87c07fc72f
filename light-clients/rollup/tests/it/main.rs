//! Integration tests of switchyard-lc-rollup: the RIP-7755 vectors (real
//! Arbitrum Sepolia data and an OP Stack devnet), their invalid variants,
//! property tests mutating every hop, and the settlement forms the vectors
//! do not cover, on a synthetic L1 state. One binary, as in reth.

mod mutations;
mod rip7755;
mod settlement;
mod support;
mod vectors;
mod world;
