//! Integration tests: the tendermint-rs model-based vectors, bisection over
//! the vectors and over generated chains, ICS-23 vectors, the outbox layout
//! and the JSON readers.

mod backends;
mod bisection;
mod ics23_vectors;
mod json;
mod model_based;
mod mutations;
mod outbox;
mod support;
