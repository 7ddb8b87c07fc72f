//! The benchmark's load generator: origin evidence at scale, as an EVM RPC
//! would serve it, deterministic from a seed.
//!
//! Each [`OriginGenerator`] builds a chain of blocks above a genesis
//! checkpoint. Every block has a Prague-layout header linked by parent hash,
//! and receipts of mixed transaction types (0 to 4): `txs_per_block`
//! transactions each dispatching `messages_per_tx` messages through the
//! origin's Mailbox, plus a few foreign transactions (an ERC-20 transfer, a
//! reverted call) that the hub must skip. Every `Dispatch` log has the exact
//! layout the Mailbox contract emits, blooms are accrued the consensus way,
//! and the header commits to the receipts' trie root: the hub verifies these
//! blocks with the same light client and extraction as blocks from an RPC.
//!
//! What message a nonce carries is a pure function of the configuration, the
//! seed and the nonce ([`OriginGenerator::message_at`]), so a sink can check
//! every delivered message without sharing state with the generator.
//!
//! # Cost
//!
//! The generator shares the machine with the hub, so per message it only
//! writes the message's bytes once into a per-block buffer (logs take
//! zero-copy slices of it) and ORs a precomputed per-channel bloom; the rest
//! is per block (the receipts trie root, the header hash). Blocks handed
//! back with [`OriginGenerator::recycle`] lend their receipts, logs and
//! topic vectors to the next block, which then allocates only its two byte
//! buffers (besides the trie-root computation's own scratch space).

use alloy_primitives::{Address, B64, B256, Bloom, BloomInput, Bytes, U256, b256, keccak256};
use switchyard_lc_evm::{BlockRef, DISPATCH_TOPIC, Header, Log, Receipt, TxType, receipts_root};
use switchyard_types::{Domain, HEADER_LEN, MESSAGE_VERSION, Message};

/// `requestsHash` of a block without execution-layer requests: sha256 of the
/// empty string (EIP-7685).
const EMPTY_REQUESTS_HASH: B256 =
    b256!("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

/// Blob gas per blob (EIP-4844); each generated blob transaction carries one.
const GAS_PER_BLOB: u64 = 131_072;

/// Gas limit of generated blocks (raised to the gas used when a
/// configuration needs more, so the header stays consistent).
const GAS_LIMIT: u64 = 36_000_000;

/// Intrinsic gas of a transaction.
const TX_BASE_GAS: u64 = 21_000;

/// Gas a `dispatchMany` call spends besides its messages (the nonce slot
/// write, calldata head): an approximation, only gas consistency matters.
const DISPATCH_CALL_GAS: u64 = 5_000;

/// Gas of one dispatched message besides its `LOG4` and calldata (message
/// formatting, hashing): an approximation.
const DISPATCH_MESSAGE_GAS: u64 = 2_000;

/// Gas of the foreign ERC-20 transfer and of the foreign reverted call.
const TRANSFER_GAS: u64 = 51_000;
const REVERTED_GAS: u64 = 23_500;

/// One origin chain of the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginSpec {
    /// Its domain (the `origin` of every message it dispatches).
    pub domain: Domain,
    /// The Mailbox that emits the `Dispatch` logs.
    pub mailbox: Address,
}

/// One destination chain of the load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationSpec {
    /// Its domain.
    pub domain: Domain,
    /// Recipients messages are addressed to (left-padded addresses); the
    /// senders of a route spread over them.
    pub recipients: Vec<B256>,
}

/// A route: messages from `origin` to `destination`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteSpec {
    /// Origin domain.
    pub origin: Domain,
    /// Destination domain.
    pub destination: Domain,
}

/// What the generators produce. [`GenConfig::default`] is the issue's
/// baseline: 4 chains, 12 routes (every ordered pair), 128-byte bodies, 20
/// transactions of 50 messages per block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenConfig {
    /// Seed of everything not fixed by the configuration (senders, bodies,
    /// header fields, transaction types).
    pub seed: u64,
    /// Chains that dispatch.
    pub origins: Vec<OriginSpec>,
    /// Chains that receive.
    pub destinations: Vec<DestinationSpec>,
    /// Origin → destination pairs; an origin's messages go round-robin over
    /// its routes, then over each route's senders.
    pub routes: Vec<RouteSpec>,
    /// Message body length in bytes.
    pub body_size: usize,
    /// Messages dispatched by each Mailbox transaction.
    pub messages_per_tx: u32,
    /// Mailbox transactions per block.
    pub txs_per_block: u32,
    /// Transactions per block that are not Mailbox dispatches (alternately an
    /// ERC-20 transfer and a reverted call), spread among the others.
    pub foreign_txs_per_block: u32,
    /// Distinct senders per route, so that a route carries several channels.
    pub senders_per_route: u32,
    /// Height of the genesis checkpoint.
    pub start_height: u64,
    /// Timestamp of the genesis checkpoint (Unix seconds).
    pub start_timestamp: u64,
    /// Seconds between blocks.
    pub block_time: u64,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self::with_routes(12)
    }
}

/// Why a [`GenConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GenError {
    /// No origin configured.
    #[error("bench generator: no origin configured")]
    NoOrigins,
    /// A domain listed twice among origins or among destinations.
    #[error("bench generator: {what} domain {domain} is listed twice")]
    DuplicateDomain {
        /// "origin" or "destination".
        what: &'static str,
        /// The domain.
        domain: Domain,
    },
    /// A route naming a chain that is not configured.
    #[error("bench generator: route {origin}->{destination}: {what} {domain} is not configured")]
    UnknownRouteDomain {
        /// The route's origin.
        origin: Domain,
        /// The route's destination.
        destination: Domain,
        /// "origin" or "destination".
        what: &'static str,
        /// The missing domain.
        domain: Domain,
    },
    /// A route listed twice.
    #[error("bench generator: route {origin}->{destination} is listed twice")]
    DuplicateRoute {
        /// The route's origin.
        origin: Domain,
        /// The route's destination.
        destination: Domain,
    },
    /// An origin with no route: it would dispatch nothing.
    #[error("bench generator: origin {origin} has no route")]
    OriginWithoutRoutes {
        /// The origin.
        origin: Domain,
    },
    /// A destination with no recipient to address.
    #[error("bench generator: destination {destination} has no recipient")]
    NoRecipients {
        /// The destination.
        destination: Domain,
    },
    /// A count that must be at least 1.
    #[error("bench generator: {field} must be at least 1, got 0")]
    Zero {
        /// The configuration field.
        field: &'static str,
    },
    /// More messages per block than a `u32` counts.
    #[error(
        "bench generator: {messages_per_tx} messages per tx times {txs_per_block} txs \
         per block exceeds u32"
    )]
    BlockTooLarge {
        /// The configured messages per transaction.
        messages_per_tx: u32,
        /// The configured transactions per block.
        txs_per_block: u32,
    },
    /// A generator asked for an origin the configuration does not list.
    #[error("bench generator: origin {origin} is not configured")]
    UnknownOrigin {
        /// The domain asked for.
        origin: Domain,
    },
}

impl GenError {
    /// Whether retrying can succeed: never, the configuration must change.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl GenConfig {
    /// A configuration of `routes` routes over the fewest chains that have
    /// that many ordered pairs (chain `i` has domain `1000 * (i + 1)`), with
    /// the default sizes. The routes are taken by increasing distance
    /// between chains (`i → i+1`, then `i → i+2`, …, modulo the chain
    /// count), so every origin gets a share; 12 routes is every ordered pair
    /// of 4 chains, 64 uses 9 chains, 256 uses 17, 1024 uses 33. Chains that
    /// end up with no route are not listed as origins (or destinations).
    pub fn with_routes(routes: usize) -> Self {
        let mut chains = 2usize;
        while chains * (chains - 1) < routes {
            chains += 1;
        }
        let domain = |i: usize| 1000 * (i as Domain + 1);
        let mut pairs = Vec::with_capacity(routes);
        'outer: for distance in 1..chains {
            for origin in 0..chains {
                if pairs.len() == routes {
                    break 'outer;
                }
                pairs.push(RouteSpec {
                    origin: domain(origin),
                    destination: domain((origin + distance) % chains),
                });
            }
        }
        let origins = (0..chains)
            .map(domain)
            .filter(|d| pairs.iter().any(|r| r.origin == *d))
            .map(|d| OriginSpec {
                domain: d,
                mailbox: default_mailbox(d),
            })
            .collect();
        let destinations = (0..chains)
            .map(domain)
            .filter(|d| pairs.iter().any(|r| r.destination == *d))
            .map(|d| DestinationSpec {
                domain: d,
                recipients: (0..2).map(|i| default_recipient(d, i)).collect(),
            })
            .collect();
        Self {
            seed: 1,
            origins,
            destinations,
            routes: pairs,
            body_size: 128,
            messages_per_tx: 50,
            txs_per_block: 20,
            foreign_txs_per_block: 2,
            senders_per_route: 4,
            start_height: 20_000_000,
            start_timestamp: 1_750_000_000,
            block_time: 12,
        }
    }

    /// Checks that the configuration describes a load: see [`GenError`].
    pub fn validate(&self) -> Result<(), GenError> {
        if self.origins.is_empty() {
            return Err(GenError::NoOrigins);
        }
        for (field, v) in [
            ("messages_per_tx", self.messages_per_tx),
            ("txs_per_block", self.txs_per_block),
            ("senders_per_route", self.senders_per_route),
        ] {
            if v == 0 {
                return Err(GenError::Zero { field });
            }
        }
        if self
            .messages_per_tx
            .checked_mul(self.txs_per_block)
            .is_none()
        {
            return Err(GenError::BlockTooLarge {
                messages_per_tx: self.messages_per_tx,
                txs_per_block: self.txs_per_block,
            });
        }
        for (i, o) in self.origins.iter().enumerate() {
            if self.origins[..i].iter().any(|p| p.domain == o.domain) {
                return Err(GenError::DuplicateDomain {
                    what: "origin",
                    domain: o.domain,
                });
            }
        }
        for (i, d) in self.destinations.iter().enumerate() {
            if self.destinations[..i].iter().any(|p| p.domain == d.domain) {
                return Err(GenError::DuplicateDomain {
                    what: "destination",
                    domain: d.domain,
                });
            }
        }
        for (i, r) in self.routes.iter().enumerate() {
            let unknown = |what, domain| GenError::UnknownRouteDomain {
                origin: r.origin,
                destination: r.destination,
                what,
                domain,
            };
            if !self.origins.iter().any(|o| o.domain == r.origin) {
                return Err(unknown("origin", r.origin));
            }
            let Some(dest) = self.destination(r.destination) else {
                return Err(unknown("destination", r.destination));
            };
            if dest.recipients.is_empty() {
                return Err(GenError::NoRecipients {
                    destination: r.destination,
                });
            }
            if self.routes[..i].contains(r) {
                return Err(GenError::DuplicateRoute {
                    origin: r.origin,
                    destination: r.destination,
                });
            }
        }
        if let Some(o) = self
            .origins
            .iter()
            .find(|o| !self.routes.iter().any(|r| r.origin == o.domain))
        {
            return Err(GenError::OriginWithoutRoutes { origin: o.domain });
        }
        Ok(())
    }

    fn destination(&self, domain: Domain) -> Option<&DestinationSpec> {
        self.destinations.iter().find(|d| d.domain == domain)
    }

    /// One generator per origin, in configuration order.
    pub fn generators(&self) -> Result<Vec<OriginGenerator>, GenError> {
        self.validate()?;
        self.origins
            .iter()
            .map(|o| OriginGenerator::of_valid(self, o.domain))
            .collect()
    }
}

/// The default Mailbox address of `domain`.
fn default_mailbox(domain: Domain) -> Address {
    Address::from_word(derive(b"switchyard/bench/mailbox", &[u64::from(domain)]))
}

/// The default `i`-th recipient on `domain` (a left-padded address).
fn default_recipient(domain: Domain, i: u64) -> B256 {
    Address::from_word(derive(
        b"switchyard/bench/recipient",
        &[u64::from(domain), i],
    ))
    .into_word()
}

/// keccak256 of a tag and integers: a fixed derivation of addresses and
/// keys, used only while setting up.
fn derive(tag: &[u8], parts: &[u64]) -> B256 {
    let mut buf = tag.to_vec();
    for p in parts {
        buf.extend_from_slice(&p.to_be_bytes());
    }
    keccak256(buf)
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator whose output is
/// fixed by its definition, so a seed gives the same blocks with any
/// version of any crate.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn b256(&mut self) -> B256 {
        let mut out = B256::ZERO;
        for chunk in out.0.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next().to_be_bytes());
        }
        out
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The body of message `nonce`: pseudo-random bytes from the origin's body
/// key, so bodies are incompressible and differ per message and per seed.
fn fill_body(key: u64, nonce: u32, out: &mut [u8]) {
    let mut rng = SplitMix64(key ^ u64::from(nonce).wrapping_mul(0xd6e8_feb8_6659_fd93));
    for chunk in out.chunks_mut(8) {
        let v = rng.next().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

/// The length of the ABI encoding of one `bytes` value of `len` bytes:
/// offset word, length word, the bytes zero-padded to 32.
const fn abi_bytes_len(len: usize) -> usize {
    64 + len.div_ceil(32) * 32
}

/// One channel of an origin: a (route, sender) pair, with what its logs
/// need precomputed.
#[derive(Debug, Clone)]
struct Slot {
    destination: Domain,
    sender: B256,
    recipient: B256,
    /// `[DISPATCH_TOPIC, sender, destination word, recipient]`.
    topics: [B256; 4],
    /// The bloom of a Dispatch log of this channel: the Mailbox address and
    /// the four topics, each accrued the consensus way (keccak, 3 bits).
    bloom: Bloom,
}

/// A block of origin evidence: what an RPC would return for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedBlock {
    /// The header (Prague layout).
    pub header: Header,
    /// keccak256 of the header's RLP, as the RPC would claim it.
    pub hash: B256,
    /// The block's receipts, in transaction order.
    pub receipts: Vec<Receipt>,
    /// Messages the block's Mailbox logs carry.
    pub messages: u32,
    /// Nonce of the first of them; the others follow contiguously.
    pub first_nonce: u32,
}

impl GeneratedBlock {
    /// The nonces of the block's messages, in block order.
    pub fn nonces(&self) -> impl Iterator<Item = u32> + use<> {
        let first = self.first_nonce;
        (0..self.messages).map(move |i| first + i)
    }
}

/// The load generator of one origin chain.
///
/// Not `Sync`-shared: give each generator its own thread (or run several on
/// one), and measure its cost there with [`super::thread_cpu_time`].
#[derive(Debug, Clone)]
pub struct OriginGenerator {
    domain: Domain,
    mailbox: Address,
    /// Message with nonce `n` belongs to `slots[n % slots.len()]`: routes
    /// alternate fastest, then senders.
    slots: Vec<Slot>,
    body_size: usize,
    messages_per_tx: u32,
    txs_per_block: u32,
    foreign_txs_per_block: u32,
    block_time: u64,
    body_key: u64,
    beneficiary: Address,
    /// The ERC-20 token of the foreign transfers, the transfer's topics
    /// (`Transfer`, from, to: fixed per origin) and so its bloom.
    token: Address,
    transfer_topics: [B256; 3],
    transfer_bloom: Bloom,
    rng: SplitMix64,
    genesis: Header,
    checkpoint: BlockRef,
    tip: BlockRef,
    tip_timestamp: u64,
    next_nonce: u64,
    /// Reused for the header's RLP.
    header_buf: Vec<u8>,
    /// Receipt vectors handed back by [`OriginGenerator::recycle`].
    spare: Vec<Vec<Receipt>>,
}

impl OriginGenerator {
    /// The generator of origin `origin` of `config`.
    pub fn new(config: &GenConfig, origin: Domain) -> Result<Self, GenError> {
        config.validate()?;
        Self::of_valid(config, origin)
    }

    /// [`OriginGenerator::new`] for a configuration already validated.
    fn of_valid(config: &GenConfig, origin: Domain) -> Result<Self, GenError> {
        let spec = config
            .origins
            .iter()
            .find(|o| o.domain == origin)
            .ok_or(GenError::UnknownOrigin { origin })?;
        let seed = config.seed;
        let key = |tag: &[u8], parts: &[u64]| {
            let mut all = vec![seed, u64::from(origin)];
            all.extend_from_slice(parts);
            derive(tag, &all)
        };
        let routes: Vec<&RouteSpec> = config
            .routes
            .iter()
            .filter(|r| r.origin == origin)
            .collect();
        let mut slots = Vec::with_capacity(routes.len() * config.senders_per_route as usize);
        for s in 0..config.senders_per_route {
            for r in &routes {
                let dest =
                    config
                        .destination(r.destination)
                        .ok_or(GenError::UnknownRouteDomain {
                            origin,
                            destination: r.destination,
                            what: "destination",
                            domain: r.destination,
                        })?;
                let sender = Address::from_word(key(
                    b"switchyard/bench/sender",
                    &[u64::from(r.destination), u64::from(s)],
                ))
                .into_word();
                let recipient = dest.recipients[s as usize % dest.recipients.len()];
                let topics = [
                    DISPATCH_TOPIC,
                    sender,
                    B256::left_padding_from(&r.destination.to_be_bytes()),
                    recipient,
                ];
                slots.push(Slot {
                    destination: r.destination,
                    sender,
                    recipient,
                    topics,
                    bloom: log_bloom(spec.mailbox, &topics),
                });
            }
        }
        let token = Address::from_word(key(b"switchyard/bench/token", &[]));
        let transfer_topics = [
            keccak256("Transfer(address,address,uint256)"),
            Address::from_word(key(b"switchyard/bench/holder", &[0])).into_word(),
            Address::from_word(key(b"switchyard/bench/holder", &[1])).into_word(),
        ];
        let mut rng = SplitMix64(u64::from_be_bytes(
            key(b"switchyard/bench/rng", &[])[..8]
                .try_into()
                .expect("a B256 has 8 leading bytes"),
        ));
        let body_key = rng.next();
        let beneficiary = Address::from_word(rng.b256());
        let mut genesis = Header {
            parent_hash: rng.b256(),
            beneficiary,
            number: config.start_height,
            timestamp: config.start_timestamp,
            receipts_root: receipts_root(&[]),
            ..Header::default()
        };
        Self::fill_fixed(&mut genesis, &mut rng, 0, 0);
        let mut header_buf = Vec::with_capacity(genesis.encoded_len() + 64);
        let hash = hash_header(&genesis, &mut header_buf);
        let checkpoint = BlockRef {
            number: genesis.number,
            hash,
        };
        Ok(Self {
            domain: origin,
            mailbox: spec.mailbox,
            slots,
            body_size: config.body_size,
            messages_per_tx: config.messages_per_tx,
            txs_per_block: config.txs_per_block,
            foreign_txs_per_block: config.foreign_txs_per_block,
            block_time: config.block_time,
            body_key,
            beneficiary,
            token,
            transfer_topics,
            transfer_bloom: log_bloom(token, &transfer_topics),
            rng,
            tip_timestamp: genesis.timestamp,
            genesis,
            checkpoint,
            tip: checkpoint,
            next_nonce: 0,
            header_buf,
            spare: Vec::new(),
        })
    }

    /// Header fields that are not links, roots or gas: the post-Merge
    /// constants and pseudo-random values standing for state we do not
    /// model.
    fn fill_fixed(h: &mut Header, rng: &mut SplitMix64, gas_used: u64, blobs: u64) {
        h.ommers_hash = keccak256([0xc0]); // the empty list: no ommers since the Merge
        h.state_root = rng.b256();
        h.transactions_root = rng.b256();
        h.difficulty = U256::ZERO;
        h.gas_used = gas_used;
        h.gas_limit = GAS_LIMIT.max(gas_used);
        h.extra_data = Bytes::from_static(b"switchyard bench");
        h.mix_hash = rng.b256();
        h.nonce = B64::ZERO;
        h.base_fee_per_gas = Some(1_000_000_000 + rng.below(20_000_000_000));
        h.withdrawals_root = Some(rng.b256());
        h.blob_gas_used = Some(blobs * GAS_PER_BLOB);
        h.excess_blob_gas = Some(0);
        h.parent_beacon_block_root = Some(rng.b256());
        h.requests_hash = Some(EMPTY_REQUESTS_HASH);
    }

    /// The origin's domain.
    pub fn domain(&self) -> Domain {
        self.domain
    }

    /// The origin's Mailbox.
    pub fn mailbox(&self) -> Address {
        self.mailbox
    }

    /// The genesis checkpoint: the block a light client of this origin must
    /// trust before the first generated block.
    pub fn checkpoint(&self) -> BlockRef {
        self.checkpoint
    }

    /// The genesis checkpoint's header.
    pub fn genesis(&self) -> &Header {
        &self.genesis
    }

    /// The last block generated (the checkpoint before the first).
    pub fn tip(&self) -> BlockRef {
        self.tip
    }

    /// Messages in every block.
    pub fn messages_per_block(&self) -> u32 {
        self.messages_per_tx * self.txs_per_block
    }

    /// Nonce of the next message to be generated; every message below it
    /// has been generated.
    pub fn next_nonce(&self) -> u64 {
        self.next_nonce
    }

    /// The message this origin dispatches with `nonce`: a pure function of
    /// the configuration, the seed and the nonce, the same whether or not it
    /// was generated yet.
    pub fn message_at(&self, nonce: u32) -> Message {
        let slot = self.slot(nonce);
        let mut body = vec![0u8; self.body_size];
        fill_body(self.body_key, nonce, &mut body);
        Message {
            version: MESSAGE_VERSION,
            nonce,
            origin: self.domain,
            sender: slot.sender,
            destination: slot.destination,
            recipient: slot.recipient,
            body: body.into(),
        }
    }

    fn slot(&self, nonce: u32) -> &Slot {
        &self.slots[nonce as usize % self.slots.len()]
    }

    /// Hands a block back once the consumer is done with it: the next block
    /// reuses its receipts, logs and topics instead of allocating them.
    /// Optional; blocks that are not returned are simply dropped.
    pub fn recycle(&mut self, block: GeneratedBlock) {
        if self.spare.len() < 2 {
            self.spare.push(block.receipts);
        }
    }

    /// The next block: linked to the previous one (the checkpoint first),
    /// holding the next [`OriginGenerator::messages_per_block`] messages.
    ///
    /// # Panics
    ///
    /// When the block would take the origin's nonce past `u32::MAX`: the
    /// Mailbox refuses to dispatch there too (about 4.3 billion messages of
    /// one origin, 12 hours at 100,000 messages/s).
    pub fn next_block(&mut self) -> GeneratedBlock {
        let per_tx = self.messages_per_tx as usize;
        let txs = self.txs_per_block as usize;
        let foreign = self.foreign_txs_per_block as usize;
        let count = per_tx * txs;
        assert!(
            self.next_nonce + count as u64 <= 1 << 32,
            "origin {} exhausted its u32 nonce space",
            self.domain
        );
        let first_nonce = self.next_nonce as u32;

        // Every message's bytes, written once: the bodies into one buffer
        // (messages take zero-copy slices of it), then the ABI-encoded
        // Dispatch data of every log into another (logs take slices too),
        // with room after them for the foreign transfers' amounts.
        let bs = self.body_size;
        let mut bodies = vec![0u8; count * bs];
        for (i, body) in bodies.chunks_exact_mut(bs.max(1)).enumerate() {
            fill_body(self.body_key, first_nonce + i as u32, body);
        }
        let bodies = Bytes::from(bodies);
        let message_len = HEADER_LEN + bs;
        let data_len = abi_bytes_len(message_len);
        let mut data = Vec::with_capacity(count * data_len + foreign * 32);
        let mut word = [0u8; 32];
        for i in 0..count {
            let nonce = first_nonce + i as u32;
            let slot = self.slot(nonce);
            let message = Message {
                version: MESSAGE_VERSION,
                nonce,
                origin: self.domain,
                sender: slot.sender,
                destination: slot.destination,
                recipient: slot.recipient,
                body: bodies.slice(i * bs..(i + 1) * bs),
            };
            word[31] = 32;
            data.extend_from_slice(&word); // offset of the bytes
            word[31] = 0;
            word[24..].copy_from_slice(&(message_len as u64).to_be_bytes());
            data.extend_from_slice(&word); // their length
            word[24..].fill(0);
            message.encode_into(&mut data);
            data.resize(data.len() + (data_len - 64 - message_len), 0);
        }
        for _ in 0..foreign {
            data.extend_from_slice(&U256::from(1 + self.rng.below(1 << 40)).to_be_bytes::<32>());
        }
        let data = Bytes::from(data);

        let total = txs + foreign;
        let mut receipts = self.spare.pop().unwrap_or_default();
        receipts.truncate(total);
        receipts.resize_with(total, Receipt::default);
        let mut gas = 0u64;
        let mut blobs = 0u64;
        let mut block_bloom = Bloom::ZERO;
        let (mut mailbox_tx, mut foreign_tx) = (0usize, 0usize);
        let message_gas = DISPATCH_MESSAGE_GAS
            + 16 * bs as u64 // calldata (non-zero bytes)
            + 375 * 5 // LOG4
            + 8 * data_len as u64;
        for (position, r) in receipts.iter_mut().enumerate() {
            r.tx_type = match self.rng.below(5) {
                0 => TxType::Legacy,
                1 => TxType::Eip2930,
                2 => TxType::Eip1559,
                3 => TxType::Eip4844,
                _ => TxType::Eip7702,
            };
            blobs += u64::from(r.tx_type == TxType::Eip4844);
            // Foreign transactions sit at evenly spread positions.
            let is_foreign =
                foreign_tx < foreign && position == (foreign_tx + 1) * total / (foreign + 1);
            if is_foreign {
                if foreign_tx % 2 == 0 {
                    r.status = true;
                    r.logs.truncate(1);
                    r.logs.resize_with(1, Log::default);
                    let log = &mut r.logs[0];
                    log.address = self.token;
                    log.topics.clear();
                    log.topics.extend_from_slice(&self.transfer_topics);
                    let at = count * data_len + foreign_tx * 32;
                    log.data = data.slice(at..at + 32);
                    r.logs_bloom = self.transfer_bloom;
                    gas += TRANSFER_GAS;
                } else {
                    r.status = false;
                    r.logs.clear();
                    r.logs_bloom = Bloom::ZERO;
                    gas += REVERTED_GAS;
                }
                foreign_tx += 1;
            } else {
                r.status = true;
                r.logs.truncate(per_tx);
                r.logs.resize_with(per_tx, Log::default);
                let mut bloom = Bloom::ZERO;
                for (k, log) in r.logs.iter_mut().enumerate() {
                    let i = mailbox_tx * per_tx + k;
                    let slot = &self.slots[(first_nonce as usize + i) % self.slots.len()];
                    log.address = self.mailbox;
                    log.topics.clear();
                    log.topics.extend_from_slice(&slot.topics);
                    log.data = data.slice(i * data_len..(i + 1) * data_len);
                    bloom.accrue_bloom(&slot.bloom);
                }
                r.logs_bloom = bloom;
                gas += TX_BASE_GAS + DISPATCH_CALL_GAS + per_tx as u64 * message_gas;
                mailbox_tx += 1;
            }
            r.cumulative_gas_used = gas;
            block_bloom.accrue_bloom(&r.logs_bloom);
        }

        let mut header = Header {
            parent_hash: self.tip.hash,
            beneficiary: self.beneficiary,
            receipts_root: receipts_root(&receipts),
            logs_bloom: block_bloom,
            number: self.tip.number + 1,
            timestamp: self.tip_timestamp + self.block_time,
            ..Header::default()
        };
        Self::fill_fixed(&mut header, &mut self.rng, gas, blobs);
        let hash = hash_header(&header, &mut self.header_buf);
        self.tip = BlockRef {
            number: header.number,
            hash,
        };
        self.tip_timestamp = header.timestamp;
        self.next_nonce += count as u64;
        GeneratedBlock {
            header,
            hash,
            receipts,
            messages: count as u32,
            first_nonce,
        }
    }
}

/// The bloom of one log: its address and each topic accrued (keccak256,
/// three bits of 2048; Yellow Paper section 4.3.1).
fn log_bloom(address: Address, topics: &[B256]) -> Bloom {
    let mut bloom = Bloom::ZERO;
    bloom.accrue(BloomInput::Raw(address.as_slice()));
    for t in topics {
        bloom.accrue(BloomInput::Raw(t.as_slice()));
    }
    bloom
}

/// keccak256 of the header's RLP, encoded into a reused buffer.
fn hash_header(header: &Header, buf: &mut Vec<u8>) -> B256 {
    buf.clear();
    header.encode(buf);
    keccak256(&buf[..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_lc_evm::{Error as LcError, HeaderChain, HeaderLayout, extract_messages};

    /// A small load, quick in debug builds: 4 chains, 12 routes, 6 Mailbox
    /// transactions of 10 messages and 3 foreign transactions per block.
    fn small() -> GenConfig {
        GenConfig {
            messages_per_tx: 10,
            txs_per_block: 6,
            foreign_txs_per_block: 3,
            ..GenConfig::default()
        }
    }

    /// Runs `blocks` blocks of every origin of `config` through the real
    /// light client and extraction, checking every message against
    /// `message_at`. Returns the blocks.
    fn verify_all(config: &GenConfig, blocks: usize) -> Vec<Vec<GeneratedBlock>> {
        let mut out = Vec::new();
        for mut g in config.generators().expect("valid config") {
            let mut lc = HeaderChain::new(g.checkpoint(), 0, 64).expect("chain");
            assert_eq!(g.genesis().hash(), g.checkpoint().hash);
            let mut expected_nonce = 0u32;
            let mut chain_blocks = Vec::new();
            for _ in 0..blocks {
                let b = g.next_block();
                assert_eq!(b.header.layout(), Ok(HeaderLayout::Prague));
                assert_eq!(b.header.hash(), b.hash);
                assert_eq!(Header::decode(&b.header.encoded()).as_ref(), Ok(&b.header));
                for r in &b.receipts {
                    assert_eq!(Receipt::decode_2718(&r.encoded_2718()).as_ref(), Ok(r));
                }
                let v = lc
                    .verify_header_with_hash(&b.header, b.hash)
                    .expect("header links");
                lc.apply_header(v).expect("applies");
                assert_eq!(lc.confirmed_height(), b.header.number);
                let vb = lc
                    .verify_block(&b.header, &b.receipts)
                    .expect("block verifies");
                let ex = extract_messages(&vb, g.mailbox(), g.domain());
                assert!(ex.rejected.is_empty(), "{:?}", ex.rejected);
                assert_eq!(ex.messages.len(), b.messages as usize);
                assert_eq!(b.messages, g.messages_per_block());
                assert_eq!(b.first_nonce, expected_nonce, "nonces contiguous");
                for (pm, nonce) in ex.messages.iter().zip(b.nonces()) {
                    let want = g.message_at(nonce);
                    assert_eq!(pm.message, want);
                    assert_eq!(pm.message.id(), keccak256(want.encode()));
                    assert_eq!(pm.message.body.len(), config.body_size);
                }
                expected_nonce += b.messages;
                chain_blocks.push(b);
            }
            assert_eq!(g.next_nonce(), u64::from(expected_nonce));
            out.push(chain_blocks);
        }
        out
    }

    #[test]
    fn default_config_is_four_chains_twelve_routes() {
        let c = GenConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!((c.origins.len(), c.destinations.len()), (4, 4));
        assert_eq!(c.routes.len(), 12);
        for o in &c.origins {
            for d in &c.destinations {
                let route = RouteSpec {
                    origin: o.domain,
                    destination: d.domain,
                };
                assert_eq!(c.routes.contains(&route), o.domain != d.domain);
            }
        }
        assert_eq!(
            (c.body_size, c.messages_per_tx, c.txs_per_block),
            (128, 50, 20)
        );
    }

    #[test]
    fn route_counts_scale_and_every_origin_dispatches() {
        for (routes, chains) in [(1, 2), (12, 4), (64, 9), (256, 17), (1024, 33)] {
            let c = GenConfig::with_routes(routes);
            assert_eq!(c.validate(), Ok(()), "{routes}");
            assert_eq!(c.routes.len(), routes);
            let mut sorted = c.routes.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), routes);
            assert!(c.routes.iter().all(|r| r.origin != r.destination));
            assert!(c.origins.len() <= chains);
            if routes >= chains {
                assert_eq!(c.origins.len(), chains);
            }
        }
    }

    #[test]
    fn default_blocks_pass_the_light_client() {
        let chains = verify_all(&GenConfig::default(), 2);
        assert_eq!(chains.len(), 4);
        for blocks in &chains {
            assert_eq!(blocks[0].messages, 1000);
            assert_eq!(blocks[0].receipts.len(), 22);
        }
    }

    #[test]
    fn small_blocks_pass_the_light_client_over_many_blocks() {
        let chains = verify_all(&small(), 12);
        // Parent links, heights and timestamps, beyond what the light client
        // checked.
        for blocks in &chains {
            for pair in blocks.windows(2) {
                assert_eq!(pair[1].header.parent_hash, pair[0].hash);
                assert_eq!(pair[1].header.number, pair[0].header.number + 1);
                assert!(pair[1].header.timestamp > pair[0].header.timestamp);
            }
        }
    }

    #[test]
    fn odd_sizes_pass_the_light_client() {
        for body_size in [0, 1, 31, 32, 33, 2048] {
            let c = GenConfig {
                body_size,
                messages_per_tx: 3,
                txs_per_block: 2,
                foreign_txs_per_block: 0,
                senders_per_route: 1,
                ..GenConfig::with_routes(3)
            };
            verify_all(&c, 2);
        }
    }

    #[test]
    fn dispatch_logs_have_the_mailbox_abi_layout() {
        let mut g = OriginGenerator::new(&small(), 1000).expect("generator");
        let b = g.next_block();
        let mut nonces = b.nonces();
        for r in &b.receipts {
            for log in r.logs.iter().filter(|l| l.address == g.mailbox()) {
                let m = g.message_at(nonces.next().expect("a nonce per log"));
                let enc = m.encode();
                assert_eq!(log.topics.len(), 4);
                assert_eq!(log.topics[0], DISPATCH_TOPIC);
                assert_eq!(&log.topics[1][..12], &[0u8; 12], "sender is an address");
                assert_eq!(log.topics[1], m.sender);
                assert_eq!(log.topics[2], B256::from(U256::from(m.destination)));
                assert_eq!(log.topics[3], m.recipient);
                let d = &log.data;
                assert_eq!(U256::from_be_slice(&d[..32]), U256::from(32));
                assert_eq!(U256::from_be_slice(&d[32..64]), U256::from(enc.len()));
                assert_eq!(&d[64..64 + enc.len()], &enc[..]);
                assert!(d[64 + enc.len()..].iter().all(|b| *b == 0));
                assert_eq!(d.len() % 32, 0);
                assert!(d.len() - 64 - enc.len() < 32);
            }
        }
        assert!(nonces.next().is_none(), "one log per message");
    }

    #[test]
    fn blooms_are_the_consensus_blooms() {
        let mut g = OriginGenerator::new(&small(), 2000).expect("generator");
        for _ in 0..3 {
            let b = g.next_block();
            let mut block_bloom = Bloom::ZERO;
            for r in &b.receipts {
                // Recomputed the plain way: every log, address and topics.
                let mut bloom = Bloom::ZERO;
                for log in &r.logs {
                    bloom.m3_2048(log.address.as_slice());
                    for t in &log.topics {
                        bloom.m3_2048(t.as_slice());
                    }
                }
                assert_eq!(r.logs_bloom, bloom);
                block_bloom |= bloom;
            }
            assert_eq!(b.header.logs_bloom, block_bloom);
            let h = &b.header.logs_bloom;
            assert!(h.contains_input(BloomInput::Raw(g.mailbox().as_slice())));
            assert!(h.contains_input(BloomInput::Raw(DISPATCH_TOPIC.as_slice())));
        }
    }

    #[test]
    fn gas_types_and_foreign_transactions_are_consistent() {
        let mut g = OriginGenerator::new(&small(), 3000).expect("generator");
        let mut types = [0usize; 5];
        for _ in 0..10 {
            let b = g.next_block();
            assert_eq!(b.receipts.len(), 9);
            let mut prev = 0;
            for r in &b.receipts {
                assert!(r.cumulative_gas_used > prev);
                prev = r.cumulative_gas_used;
                types[u8::from(r.tx_type) as usize] += 1;
            }
            assert_eq!(b.header.gas_used, prev);
            assert!(b.header.gas_used <= b.header.gas_limit);
            let blob_txs = b
                .receipts
                .iter()
                .filter(|r| r.tx_type == TxType::Eip4844)
                .count() as u64;
            assert_eq!(b.header.blob_gas_used, Some(blob_txs * GAS_PER_BLOB));
            let failed = b.receipts.iter().filter(|r| !r.status).count();
            let transfers = b
                .receipts
                .iter()
                .filter(|r| r.logs.first().is_some_and(|l| l.address != g.mailbox()))
                .count();
            assert_eq!((failed, transfers), (1, 2));
            assert!(
                b.receipts[0]
                    .logs
                    .first()
                    .is_some_and(|l| l.address == g.mailbox())
            );
        }
        assert!(types.iter().all(|n| *n > 0), "every tx type: {types:?}");
    }

    #[test]
    fn messages_round_robin_over_routes_and_senders() {
        let c = GenConfig::default();
        let mut g = OriginGenerator::new(&c, 1000).expect("generator");
        let b = g.next_block();
        let mut per_route = std::collections::BTreeMap::new();
        let mut channels = std::collections::BTreeSet::new();
        for n in b.nonces() {
            let m = g.message_at(n);
            *per_route.entry(m.destination).or_insert(0u32) += 1;
            channels.insert(m.channel());
        }
        assert_eq!(per_route.len(), 3);
        let (min, max) = (per_route.values().min(), per_route.values().max());
        assert!(
            max.zip(min).is_some_and(|(a, b)| a - b <= 1),
            "{per_route:?}"
        );
        assert_eq!(channels.len(), 3 * c.senders_per_route as usize);
        // Consecutive messages take different routes.
        assert_ne!(g.message_at(0).destination, g.message_at(1).destination);
    }

    #[test]
    fn a_changed_log_byte_fails_the_receipts_root() {
        let mut g = OriginGenerator::new(&small(), 4000).expect("generator");
        let mut lc = HeaderChain::new(g.checkpoint(), 0, 8).expect("chain");
        let mut b = g.next_block();
        let v = lc.verify_header(&b.header).expect("links");
        lc.apply_header(v).expect("applies");
        lc.verify_block(&b.header, &b.receipts)
            .expect("intact block verifies");
        let log = &mut b.receipts[0].logs[0];
        let mut data = log.data.to_vec();
        data[100] ^= 1;
        log.data = data.into();
        assert!(matches!(
            lc.verify_block(&b.header, &b.receipts),
            Err(LcError::ReceiptsRootMismatch { height, .. }) if height == b.header.number
        ));
    }

    #[test]
    fn same_seed_same_blocks_other_seed_other_blocks() {
        let run = |seed| {
            let c = GenConfig { seed, ..small() };
            let mut g = OriginGenerator::new(&c, 1000).expect("generator");
            let blocks: Vec<_> = (0..3).map(|_| g.next_block()).collect();
            (g.checkpoint(), blocks, g.message_at(0))
        };
        let (cp1, a, m1) = run(1);
        let (cp1b, b, _) = run(1);
        assert_eq!((cp1, &a), (cp1b, &b));
        let (cp2, c, m2) = run(2);
        assert_ne!(cp1.hash, cp2.hash);
        for (x, y) in a.iter().zip(&c) {
            assert_ne!(x.hash, y.hash);
            assert_ne!(x.header.receipts_root, y.header.receipts_root);
        }
        assert_ne!(m1.body, m2.body);
        assert_ne!(m1.sender, m2.sender);
    }

    #[test]
    fn recycling_does_not_change_the_blocks() {
        let c = small();
        let mut plain = OriginGenerator::new(&c, 2000).expect("generator");
        let mut recycling = plain.clone();
        for _ in 0..4 {
            let want = plain.next_block();
            let got = recycling.next_block();
            assert_eq!(got, want);
            recycling.recycle(got);
        }
        // Also with a recycled block of another shape (more receipts and
        // logs than needed).
        let mut big = OriginGenerator::new(&GenConfig::default(), 2000).expect("generator");
        recycling.recycle(big.next_block());
        assert_eq!(recycling.next_block(), plain.next_block());
    }

    #[test]
    fn invalid_configs_are_refused() {
        let ok = GenConfig::default();
        let with = |f: &dyn Fn(&mut GenConfig)| {
            let mut c = ok.clone();
            f(&mut c);
            c.validate()
        };
        assert_eq!(with(&|c| c.origins.clear()), Err(GenError::NoOrigins));
        assert_eq!(
            with(&|c| c.messages_per_tx = 0),
            Err(GenError::Zero {
                field: "messages_per_tx"
            })
        );
        assert_eq!(
            with(&|c| c.txs_per_block = 1 << 27),
            Err(GenError::BlockTooLarge {
                messages_per_tx: 50,
                txs_per_block: 1 << 27
            })
        );
        assert_eq!(
            with(&|c| c.senders_per_route = 0),
            Err(GenError::Zero {
                field: "senders_per_route"
            })
        );
        assert_eq!(
            with(&|c| {
                let o = c.origins[0].clone();
                c.origins.push(o);
            }),
            Err(GenError::DuplicateDomain {
                what: "origin",
                domain: 1000
            })
        );
        assert_eq!(
            with(&|c| c.routes.push(RouteSpec {
                origin: 1000,
                destination: 9
            })),
            Err(GenError::UnknownRouteDomain {
                origin: 1000,
                destination: 9,
                what: "destination",
                domain: 9
            })
        );
        assert_eq!(
            with(&|c| {
                let r = c.routes[0];
                c.routes.push(r);
            }),
            Err(GenError::DuplicateRoute {
                origin: 1000,
                destination: 2000
            })
        );
        assert_eq!(
            with(&|c| c.routes.retain(|r| r.origin != 3000)),
            Err(GenError::OriginWithoutRoutes { origin: 3000 })
        );
        assert_eq!(
            with(&|c| c.destinations[1].recipients.clear()),
            Err(GenError::NoRecipients { destination: 2000 })
        );
        assert_eq!(
            OriginGenerator::new(&ok, 5).map(|_| ()),
            Err(GenError::UnknownOrigin { origin: 5 })
        );
        assert!(!GenError::NoOrigins.is_retryable());
    }

    /// Generator throughput on one core: not a test of anything, a
    /// measurement. Run it in release:
    /// `cargo test --release -p switchyard --lib bench -- --ignored --nocapture throughput`.
    #[test]
    #[ignore = "a measurement, run by hand in release"]
    fn throughput() {
        let seconds: f64 = std::env::var("SWITCHYARD_GEN_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5.0);
        for (label, recycle) in [("dropping blocks", false), ("recycling blocks", true)] {
            let mut g = OriginGenerator::new(&GenConfig::default(), 1000).expect("generator");
            let (wall, cpu0) = (
                std::time::Instant::now(),
                crate::tools::bench::thread_cpu_time(),
            );
            let (mut messages, mut blocks, mut root_time) = (0u64, 0u64, 0.0f64);
            while wall.elapsed().as_secs_f64() < seconds {
                let b = g.next_block();
                messages += u64::from(b.messages);
                blocks += 1;
                // Share of the irreducible receipts-trie hashing (recomputed
                // on 1 block in 16, so it barely perturbs the figure).
                if blocks % 16 == 0 {
                    let t = std::time::Instant::now();
                    std::hint::black_box(receipts_root(&b.receipts));
                    root_time += t.elapsed().as_secs_f64() * 16.0;
                }
                if recycle {
                    g.recycle(b);
                }
            }
            let cpu = crate::tools::bench::thread_cpu_time()
                .zip(cpu0)
                .map_or(f64::NAN, |(b, a)| (b - a).as_secs_f64());
            let wall = wall.elapsed().as_secs_f64();
            println!(
                "{label}: {blocks} blocks, {messages} messages in {wall:.2} s wall, {cpu:.2} s \
                 thread CPU: {:.0} messages/s per CPU-second ({:.0} per wall second); \
                 receipts root ~{:.0}% of CPU",
                messages as f64 / cpu,
                messages as f64 / wall,
                100.0 * root_time / cpu,
            );
        }
    }
}
