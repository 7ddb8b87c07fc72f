//! Integration tests: the light client against public vectors read from
//! `../shared/vectors` beside the repository root.

mod execution;
mod helios_mainnet;
mod mutations;
mod spec_sync;
mod ssz_static;
mod ssz_stream;
mod support;
mod testkit;
