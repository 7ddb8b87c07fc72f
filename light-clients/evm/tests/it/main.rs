//! Integration tests of switchyard-lc-evm: public vectors (ethereum/tests
//! TrieTests and RLPTests, a real mainnet Cancun block from helios) and
//! property tests cross-checked against alloy. One binary, as in reth.

mod helios;
mod props;
mod rlp_tests;
mod trie_tests;
mod vectors;
