//! The EVM adapter against real anvil chains and the compiled contracts:
//! bindings vs artifacts, the attestation digest, the submitter's
//! prepare/submit/confirm lifecycle (delivery, replay, isolated failures,
//! reverts, nonce resync) and RPC failover.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use alloy::providers::{Provider, RootProvider};
use alloy::sol_types::{SolCall, SolConstructor, SolType, eip712_domain};
use switchyard_evm::EvmError;
use switchyard_evm::attest::{Attester, batch_digest};
use switchyard_evm::bindings::{
    self, ARTIFACTS_DIR, Inbox, Mailbox, PingPong, TestRecipient, load_abi_signatures,
    load_bytecode,
};
use switchyard_evm::rpc::{RpcObserver, RpcPolicy, RpcPool};
use switchyard_evm::submitter::{EvmSubmitter, Included, PreparedBatch, SubmitterConfig};
use switchyard_localnet::evm::{ANVIL_KEYS, Deployment, DevWallet, deploy_all, received_events};
use switchyard_localnet::procs::{Anvil, free_port, repo_root};
use switchyard_types::{MESSAGE_VERSION, Message, batch_root};

/// Not anvil's default (31337), so a hard-coded chain id anywhere shows up.
const CHAIN_ID: u64 = 7_001;
/// Domain of the destination chain (the Inbox's `localDomain`).
const DOMAIN: u32 = 2_000;
/// Origin domain of the test messages.
const ORIGIN: u32 = 1_000;
/// Gas the Inbox forwards to each recipient: TestRecipient needs ~50k.
const HANDLE_GAS: u64 = 200_000;
/// Anvil interval mining: fast, but still a real gap between send and receipt.
const BLOCK_TIME: f64 = 0.2;
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn artifacts() -> PathBuf {
    let dir = repo_root().join(ARTIFACTS_DIR);
    assert!(
        dir.join("Inbox.sol/Inbox.json").exists(),
        "no contract artifacts in {}: run adapters/contracts/build.sh",
        dir.display()
    );
    dir
}

fn address_of(key: &str) -> Address {
    Attester::from_hex(key, "test key")
        .expect("anvil dev keys are valid")
        .address()
}

/// An anvil chain with the contracts deployed by `ANVIL_KEYS[0]` (the
/// Inbox owner). The anvil process dies with this value.
struct Chain {
    anvil: Anvil,
    owner: DevWallet,
    dep: Deployment,
}

impl Chain {
    async fn start(attesters: Vec<Address>, threshold: u64) -> Self {
        let anvil = Anvil::spawn(CHAIN_ID, BLOCK_TIME).expect("anvil starts (deploy/setup.sh)");
        let mut owner = DevWallet::connect(&anvil.url, ANVIL_KEYS[0])
            .await
            .expect("connect deployer");
        let dep = deploy_all(
            &mut owner,
            &artifacts(),
            DOMAIN,
            attesters,
            threshold,
            HANDLE_GAS,
        )
        .await
        .expect("deploy contracts");
        Self { anvil, owner, dep }
    }

    fn provider(&self) -> RootProvider {
        self.owner.provider().clone()
    }

    /// A submitter for this chain's Inbox signing with `key`.
    fn submitter(&self, key: &str) -> EvmSubmitter {
        self.submitter_via(key, std::slice::from_ref(&self.anvil.url))
    }

    /// The same, reaching the chain through `urls`.
    fn submitter_via(&self, key: &str, urls: &[String]) -> EvmSubmitter {
        self.submitter_with(
            key,
            urls,
            SubmitterConfig::new(CHAIN_ID, self.dep.inbox).replace_after,
        )
    }

    /// The same, replacing unmined transactions after `replace_after`.
    fn submitter_with(&self, key: &str, urls: &[String], replace_after: Duration) -> EvmSubmitter {
        let pool = RpcPool::new("dest", urls, policy(3)).expect("valid url");
        EvmSubmitter::new(
            pool,
            key,
            "test submitter key",
            SubmitterConfig {
                max_fee_per_gas: 100_000_000_000,
                receipt_timeout: WAIT,
                replace_after,
                ..SubmitterConfig::new(CHAIN_ID, self.dep.inbox)
            },
        )
        .expect("valid submitter key")
    }

    /// Deploys one more TestRecipient that only this chain's Inbox may call.
    async fn deploy_recipient(&mut self) -> Address {
        let code = load_bytecode(&artifacts(), "TestRecipient").expect("TestRecipient bytecode");
        let args = TestRecipient::constructorCall {
            inbox: self.dep.inbox,
        }
        .abi_encode();
        self.owner
            .deploy(&code, &args)
            .await
            .expect("deploy recipient")
    }

    /// Sends `call` to `to` from the owner and waits until it is mined.
    async fn owner_call(&mut self, to: Address, call: impl SolCall) {
        let hash = self
            .owner
            .send(Some(to), call.abi_encode().into(), 500_000)
            .await
            .expect("owner tx accepted");
        self.owner.wait(hash, WAIT).await.expect("owner tx mined");
    }

    async fn received(&self, recipient: Address) -> U256 {
        TestRecipient::new(recipient, self.provider())
            .received()
            .call()
            .await
            .expect("TestRecipient.received()")
    }

    async fn is_processed(&self, m: &Message) -> bool {
        Inbox::new(self.dep.inbox, self.provider())
            .isProcessed(m.origin, m.nonce)
            .call()
            .await
            .expect("Inbox.isProcessed()")
    }
}

fn policy(attempts: u32) -> RpcPolicy {
    RpcPolicy {
        timeout: Duration::from_secs(5),
        attempts,
        backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..RpcPolicy::default()
    }
}

fn message(origin: u32, nonce: u32, recipient: Address, body: &str) -> Message {
    Message {
        version: MESSAGE_VERSION,
        nonce,
        origin,
        sender: Address::repeat_byte(0x5e).into_word(),
        destination: DOMAIN,
        recipient: recipient.into_word(),
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

/// `count` messages from `ORIGIN` with nonces `first..`, all to `recipient`.
fn batch(first: u32, count: u32, recipient: Address) -> Vec<Message> {
    (first..first + count)
        .map(|n| message(ORIGIN, n, recipient, &format!("body {n}")))
        .collect()
}

/// The `deliver` arguments for `msgs`: encodings and one signature by `key`.
fn attested(key: &str, inbox: Address, msgs: &[Message]) -> (Vec<Bytes>, Vec<Bytes>) {
    let ids: Vec<B256> = msgs.iter().map(Message::id).collect();
    let sig = Attester::from_hex(key, "test attester key")
        .expect("anvil dev keys are valid")
        .sign_batch(CHAIN_ID, inbox, batch_root(&ids))
        .expect("signs");
    let encoded = msgs.iter().map(|m| Bytes::from(m.encode())).collect();
    (encoded, vec![Bytes::copy_from_slice(&sig)])
}

/// prepare, submit, confirm, each step expected to succeed.
async fn deliver(sub: &EvmSubmitter, args: (Vec<Bytes>, Vec<Bytes>)) -> Included {
    let prepared = sub.prepare(args.0, args.1).await.expect("prepare");
    let pending = sub.submit(&prepared).await.expect("submit");
    sub.confirm(&pending).await.expect("confirm")
}

/// Declared signatures (`name(types)`) of `kind` that the compiled ABI lacks.
fn missing_from_abi(kind: &str, declared: &[&str], compiled: &[String]) -> Vec<String> {
    declared
        .iter()
        .map(|sig| format!("{kind} {sig}"))
        .filter(|full| !compiled.contains(full))
        .collect()
}

/// The artifact's constructor parameter list, e.g. `(uint32,address[])`.
fn compiled_constructor(contract: &str) -> String {
    let path = bindings::artifact_path(&artifacts(), contract);
    let text = std::fs::read_to_string(&path).expect("artifact readable");
    let json: serde_json::Value = serde_json::from_str(&text).expect("artifact is JSON");
    let ctor = json["abi"]
        .as_array()
        .expect("abi array")
        .iter()
        .find(|i| i["type"] == "constructor")
        .unwrap_or_else(|| panic!("{contract}: no constructor in the ABI"));
    let types: Vec<&str> = ctor["inputs"]
        .as_array()
        .expect("constructor inputs")
        .iter()
        .map(|i| i["type"].as_str().expect("input type"))
        .collect();
    format!("({})", types.join(","))
}

fn declared_constructor<C: SolConstructor>() -> &'static str {
    <C::Parameters<'static> as SolType>::SOL_NAME
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn bindings_match_compiled_abi() {
    let dir = artifacts();
    let cases: [(&str, &[&str], &[&str], &str); 4] = [
        (
            "Mailbox",
            Mailbox::MailboxCalls::SIGNATURES,
            Mailbox::MailboxEvents::SIGNATURES,
            declared_constructor::<Mailbox::constructorCall>(),
        ),
        (
            "Inbox",
            Inbox::InboxCalls::SIGNATURES,
            Inbox::InboxEvents::SIGNATURES,
            declared_constructor::<Inbox::constructorCall>(),
        ),
        (
            "TestRecipient",
            TestRecipient::TestRecipientCalls::SIGNATURES,
            TestRecipient::TestRecipientEvents::SIGNATURES,
            declared_constructor::<TestRecipient::constructorCall>(),
        ),
        (
            "PingPong",
            PingPong::PingPongCalls::SIGNATURES,
            PingPong::PingPongEvents::SIGNATURES,
            declared_constructor::<PingPong::constructorCall>(),
        ),
    ];
    for (contract, functions, events, ctor) in cases {
        let compiled = load_abi_signatures(&dir, contract).expect("artifact ABI");
        assert!(
            !functions.is_empty() && !events.is_empty(),
            "{contract}: nothing declared, the comparison would be vacuous"
        );
        let mut missing = missing_from_abi("function", functions, &compiled);
        missing.extend(missing_from_abi("event", events, &compiled));
        assert!(
            missing.is_empty(),
            "{contract}: bindings.rs declares {missing:?}, absent from the compiled ABI {compiled:?}"
        );
        // deploy_all encodes constructor arguments from the bindings too.
        assert_eq!(
            ctor,
            compiled_constructor(contract),
            "{contract}: constructor parameters differ"
        );
    }
    // The comparison itself catches a drift: a changed parameter list, or a
    // function declared as an event.
    let inbox = load_abi_signatures(&dir, "Inbox").expect("artifact ABI");
    assert_eq!(
        missing_from_abi("function", &["deliver(bytes[])"], &inbox),
        ["function deliver(bytes[])"]
    );
    assert_eq!(
        missing_from_abi("event", &["deliver(bytes[],bytes[])"], &inbox),
        ["event deliver(bytes[],bytes[])"]
    );
}

#[tokio::test]
async fn attestation_digest_matches_inbox_on_chain() {
    let chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let inbox = Inbox::new(chain.dep.inbox, chain.provider());

    let domain = eip712_domain! {
        name: "Switchyard Inbox",
        version: "1",
        chain_id: CHAIN_ID,
        verifying_contract: chain.dep.inbox,
    };
    let on_chain_separator = inbox
        .domainSeparator()
        .call()
        .await
        .expect("domainSeparator");
    assert_eq!(on_chain_separator, domain.separator());

    // The root the hub computes is the one the Inbox computes ...
    let msgs = batch(0, 3, chain.dep.recipient);
    let ids: Vec<B256> = msgs.iter().map(Message::id).collect();
    let root = batch_root(&ids);
    let encoded: Vec<Bytes> = msgs.iter().map(|m| Bytes::from(m.encode())).collect();
    let on_chain_root = inbox.batchRoot(encoded).call().await.expect("batchRoot");
    assert_eq!(on_chain_root, root);

    // ... and the digest the attester signs is the one the Inbox checks.
    for root in [root, B256::ZERO, B256::repeat_byte(0xab)] {
        let on_chain = inbox.batchDigest(root).call().await.expect("batchDigest");
        assert_eq!(
            on_chain,
            batch_digest(CHAIN_ID, chain.dep.inbox, root),
            "root {root}"
        );
        // The domain is part of it: another chain id gives another digest.
        assert_ne!(on_chain, batch_digest(CHAIN_ID + 1, chain.dep.inbox, root));
    }
}

#[tokio::test]
async fn submitter_delivers_attested_batch_and_replay_is_noop() {
    let chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let sub = chain.submitter(ANVIL_KEYS[2]);
    let msgs = batch(0, 3, chain.dep.recipient);
    let args = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs);

    let first = deliver(&sub, args.clone()).await;
    assert_eq!(first.delivered, [ORIGIN; 3]);
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    assert!(first.gas_used > 0);
    assert_eq!(chain.received(chain.dep.recipient).await, U256::from(3));
    let events = received_events(&chain.provider(), chain.dep.recipient, chain.dep.block)
        .await
        .expect("Received events");
    let bodies: Vec<Bytes> = events.iter().map(|e| e.body.clone()).collect();
    let sent: Vec<Bytes> = msgs.iter().map(|m| m.body.clone()).collect();
    assert_eq!(bodies, sent, "bodies delivered once each, in batch order");
    assert!(events.iter().all(|e| e.tx_hash == Some(first.tx_hash)));
    for m in &msgs {
        assert!(
            chain.is_processed(m).await,
            "nonce {} not processed",
            m.nonce
        );
    }

    // A second relayer (or a retry) sends the same attested batch: it is
    // included, delivers nothing and calls no recipient.
    let replay = deliver(&sub, args).await;
    assert_ne!(replay.tx_hash, first.tx_hash);
    assert!(
        replay.delivered.is_empty() && replay.failed.is_empty(),
        "replay delivered {:?}, failed {:?}",
        replay.delivered,
        replay.failed
    );
    assert_eq!(chain.received(chain.dep.recipient).await, U256::from(3));
}

#[tokio::test]
async fn wrong_attester_is_refused_in_simulation_not_retryable() {
    let chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let sub = chain.submitter(ANVIL_KEYS[2]);
    let msgs = batch(0, 2, chain.dep.recipient);

    let (encoded, sigs) = attested(ANVIL_KEYS[3], chain.dep.inbox, &msgs);
    let err = sub
        .prepare(encoded, sigs)
        .await
        .expect_err("a non-attester's signature must not pass simulation");
    assert!(
        matches!(err, EvmError::SimulationReverted { .. }),
        "expected SimulationReverted, got {err:?}"
    );
    assert!(!err.is_retryable(), "{err}");
    // Refused for the signer, not for anything else in the batch: the revert
    // data is NotAttester(<the signer>).
    let text = err.to_string().to_ascii_lowercase();
    let selector = alloy::hex::encode(&keccak256("NotAttester(address)")[..4]);
    let signer = alloy::hex::encode(address_of(ANVIL_KEYS[3]));
    assert!(
        text.contains(&format!("{selector}000000000000000000000000{signer}")),
        "expected NotAttester({signer}) (selector {selector}) in: {text}"
    );

    // The same batch attested by the registered attester simulates fine.
    let (encoded, sigs) = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs);
    sub.prepare(encoded, sigs)
        .await
        .expect("the attester's signature passes simulation");
    assert_eq!(chain.received(chain.dep.recipient).await, U256::ZERO);
}

/// A batch of three messages whose middle one goes to a second recipient
/// in TestRecipient `mode` (1 reverts, 2 burns its gas), delivered; returns
/// the chain, the good and the bad recipient, the messages and the outcome.
/// Distinct origins, so `Included` tells which message failed.
async fn deliver_with_one_bad_recipient(
    mode: u8,
    bad_body: &str,
) -> (Chain, Address, Address, Vec<Message>, Included) {
    let mut chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let good = chain.dep.recipient;
    let bad = chain.deploy_recipient().await;
    chain
        .owner_call(bad, TestRecipient::setModeCall { mode })
        .await;
    let sub = chain.submitter(ANVIL_KEYS[2]);
    let msgs = vec![
        message(1_001, 0, good, "first"),
        message(1_002, 0, bad, bad_body),
        message(1_003, 0, good, "third"),
    ];
    let included = deliver(&sub, attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs)).await;
    (chain, good, bad, msgs, included)
}

#[tokio::test]
async fn failing_recipient_fails_alone() {
    let (chain, good, bad, msgs, included) = deliver_with_one_bad_recipient(1, "rejected").await;

    assert_eq!(included.failed, [1_002]);
    assert_eq!(included.delivered, [1_001, 1_003]);
    assert_eq!(chain.received(good).await, U256::from(2));
    assert_eq!(chain.received(bad).await, U256::ZERO);
    let inbox = Inbox::new(chain.dep.inbox, chain.provider());
    assert!(
        inbox.failed(msgs[1].id()).call().await.expect("failed()"),
        "the rejected message is recorded for retry"
    );
    assert!(!inbox.failed(msgs[0].id()).call().await.expect("failed()"));
    // A failed message is processed too: re-sending the batch does not call
    // the failing recipient again.
    assert!(chain.is_processed(&msgs[1]).await);
}

#[tokio::test]
async fn nonce_resyncs_after_external_use_of_the_key() {
    let chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let provider = chain.provider();
    let key = ANVIL_KEYS[2];
    let account = address_of(key);
    let tx_count = || async {
        provider
            .get_transaction_count(account)
            .await
            .expect("eth_getTransactionCount")
    };
    assert_eq!(tx_count().await, 0, "fresh account");
    let sub = chain.submitter(key);

    // 1. The submitter sends a batch: nonce 0, its cache now says 1.
    let msgs_a = batch(0, 2, chain.dep.recipient);
    let args_a = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs_a);
    let prepared = sub.prepare(args_a.0, args_a.1).await.expect("prepare A");
    let pending_a = sub.submit(&prepared).await.expect("submit A");
    assert_eq!(pending_a.nonce, 0);
    sub.confirm(&pending_a).await.expect("confirm A");
    assert_eq!(tx_count().await, 1);

    // 2. Someone else uses the key (an operator, a second process): nonce 1.
    let mut other = DevWallet::connect(&chain.anvil.url, key)
        .await
        .expect("connect second user of the key");
    let hash = other
        .send(
            Some(chain.dep.recipient),
            TestRecipient::setModeCall { mode: 0 }.abi_encode().into(),
            100_000,
        )
        .await
        .expect("external tx accepted");
    let r = other.wait(hash, WAIT).await.expect("external tx mined");
    assert!(r.status());
    assert_eq!(tx_count().await, 2);

    // 3. The submitter's next batch: its cached nonce (1) is stale. The first
    // attempt may fail, retryably; a retry must go out with nonce 2.
    let msgs_b = batch(2, 2, chain.dep.recipient);
    let args_b = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs_b);
    let prepared = sub.prepare(args_b.0, args_b.1).await.expect("prepare B");
    let mut failures = Vec::new();
    let pending_b = loop {
        match sub.submit(&prepared).await {
            Ok(p) => break p,
            Err(e) => {
                assert!(e.is_retryable(), "stale nonce must be retryable: {e}");
                failures.push(e.to_string());
                assert!(
                    failures.len() < 3,
                    "nonce never resynced from the chain: {failures:?}"
                );
            }
        }
    };
    assert!(failures.len() <= 1, "one resync must suffice: {failures:?}");
    assert_eq!(pending_b.nonce, 2, "next nonce after the external tx");
    let included = sub.confirm(&pending_b).await.expect("confirm B");
    assert_eq!(included.delivered, [ORIGIN; 2]);

    // Three transactions sent by the key, nonces 0, 1, 2: none skipped (a gap
    // would leave B pending forever), none reused.
    assert_eq!(tx_count().await, 3);
    let tx_b = provider
        .get_transaction_by_hash(pending_b.tx_hash)
        .await
        .expect("eth_getTransactionByHash")
        .expect("B is known");
    assert_eq!(alloy::consensus::Transaction::nonce(&tx_b), 2);
    assert_eq!(chain.received(chain.dep.recipient).await, U256::from(4));
}

#[tokio::test]
async fn rpc_failover_to_second_endpoint() {
    let chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let url = chain.anvil.url.clone();
    // A port that was free a moment ago: nothing listens there.
    let dead = format!("http://127.0.0.1:{}", free_port());

    let outcomes: Arc<Mutex<Vec<&'static str>>> = Arc::default();
    let seen = Arc::clone(&outcomes);
    let observer: RpcObserver = Arc::new(move |_chain, _method, outcome| {
        seen.lock().expect("not poisoned").push(outcome);
    });
    let pool = RpcPool::new("t", &[dead.clone(), url.clone()], policy(3))
        .expect("valid urls")
        .with_observer(observer);
    let chain_id = |p: RootProvider| async move { p.get_chain_id().await };

    let got = pool.read("eth_chainId", chain_id).await.expect("failover");
    assert_eq!(got, CHAIN_ID);
    assert_eq!(
        *outcomes.lock().expect("not poisoned"),
        ["error", "ok"],
        "first endpoint fails, second answers"
    );
    // The live endpoint is now preferred: the next read goes straight there.
    assert!(pool.preferred().1.ends_with("endpoint#1"));
    outcomes.lock().expect("not poisoned").clear();
    pool.read("eth_chainId", chain_id).await.expect("read");
    assert_eq!(*outcomes.lock().expect("not poisoned"), ["ok"]);

    // Only the dead endpoint: every configured attempt fails, retryably.
    outcomes.lock().expect("not poisoned").clear();
    let seen = Arc::clone(&outcomes);
    let only_dead = RpcPool::new("t", std::slice::from_ref(&dead), policy(3))
        .expect("valid url")
        .with_observer(Arc::new(move |_, _, outcome| {
            seen.lock().expect("not poisoned").push(outcome);
        }));
    let err = only_dead
        .read("eth_chainId", chain_id)
        .await
        .expect_err("nothing listens");
    assert!(err.is_retryable(), "{err}");
    assert!(
        matches!(err, EvmError::Rpc { .. } | EvmError::Timeout { .. }),
        "{err:?}"
    );
    assert_eq!(
        outcomes.lock().expect("not poisoned").len(),
        3,
        "3 attempts"
    );

    // The submitter's own one-shot calls (simulation, broadcast) do not go
    // through `read`: a dead first endpoint fails one prepare, retryably, and
    // the retry goes to the live one.
    let sub = chain.submitter_via(ANVIL_KEYS[2], &[dead, url]);
    let msgs = batch(0, 2, chain.dep.recipient);
    let args = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs);
    let err = sub
        .prepare(args.0.clone(), args.1.clone())
        .await
        .expect_err("simulation on the dead endpoint");
    assert!(matches!(err, EvmError::Rpc { .. }), "{err:?}");
    assert!(err.is_retryable(), "{err}");
    let included = deliver(&sub, args).await;
    assert_eq!(included.delivered, [ORIGIN; 2]);
}

#[tokio::test]
async fn submitter_confirm_reports_revert() {
    let attesters = vec![address_of(ANVIL_KEYS[1]), address_of(ANVIL_KEYS[3])];
    let mut chain = Chain::start(attesters, 1).await;
    let sub = chain.submitter(ANVIL_KEYS[2]);
    let msgs = batch(0, 2, chain.dep.recipient);
    let args = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs);
    let prepared: PreparedBatch = sub.prepare(args.0, args.1).await.expect("valid at 1-of-2");

    // Between simulation and inclusion the Inbox starts requiring 2 signatures.
    let inbox = chain.dep.inbox;
    chain
        .owner_call(
            inbox,
            Inbox::setThresholdCall {
                threshold: U256::from(2),
            },
        )
        .await;

    let pending = sub.submit(&prepared).await.expect("broadcast");
    let err = sub
        .confirm(&pending)
        .await
        .expect_err("the batch reverts on chain");
    match &err {
        EvmError::Reverted { tx_hash, block } => {
            assert_eq!(*tx_hash, pending.tx_hash.to_string());
            assert!(*block > chain.dep.block, "included after the deployment");
        }
        other => panic!("expected Reverted, got {other:?}"),
    }
    for m in &msgs {
        assert!(!chain.is_processed(m).await, "nonce {} processed", m.nonce);
    }
    assert_eq!(chain.received(chain.dep.recipient).await, U256::ZERO);
}

/// Pauses (`false`) or resumes (`true`, a block every second) anvil's mining.
async fn mining(provider: &RootProvider, on: bool) {
    provider
        .raw_request::<_, serde_json::Value>("evm_setIntervalMining".into(), (u64::from(on),))
        .await
        .expect("evm_setIntervalMining");
}

#[tokio::test]
async fn unmined_delivery_is_replaced_with_higher_fees_and_the_same_nonce() {
    let chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let provider = chain.provider();
    let key = ANVIL_KEYS[2];
    let sub = Arc::new(chain.submitter_with(
        key,
        std::slice::from_ref(&chain.anvil.url),
        Duration::from_millis(300),
    ));
    let msgs = batch(0, 3, chain.dep.recipient);
    let args = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs);
    let prepared = sub.prepare(args.0, args.1).await.expect("prepare");

    // Nothing is mined while the first broadcast and its replacements wait.
    mining(&provider, false).await;
    let pending = sub.submit(&prepared).await.expect("submit");
    let confirming = tokio::spawn({
        let sub = Arc::clone(&sub);
        let pending = pending.clone();
        async move { sub.confirm(&pending).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    mining(&provider, true).await;
    let included = tokio::time::timeout(WAIT, confirming)
        .await
        .expect("confirmed in time")
        .expect("no panic")
        .expect("included");

    assert!(included.replacements >= 1, "{included:?}");
    assert_ne!(included.tx_hash, pending.tx_hash, "a replacement was mined");
    assert_eq!(included.delivered, [ORIGIN; 3]);
    let mined = provider
        .get_transaction_by_hash(included.tx_hash)
        .await
        .expect("eth_getTransactionByHash")
        .expect("mined tx known");
    use alloy::consensus::Transaction as _;
    assert_eq!(mined.nonce(), pending.nonce, "same nonce");
    let (fee0, tip0) = pending.fees;
    assert!(
        mined.max_fee_per_gas() * 100 >= fee0 * 110,
        "max fee raised by at least 10%: {} from {fee0}",
        mined.max_fee_per_gas()
    );
    assert!(
        mined.max_priority_fee_per_gas().expect("EIP-1559") * 100 >= tip0 * 110,
        "tip raised by at least 10% from {tip0}"
    );
    assert!(
        mined.max_fee_per_gas() <= 100_000_000_000,
        "never above the cap"
    );
    // The first broadcast was replaced, not mined as well; one nonce used.
    assert!(
        provider
            .get_transaction_receipt(pending.tx_hash)
            .await
            .expect("eth_getTransactionReceipt")
            .is_none()
    );
    assert_eq!(
        provider
            .get_transaction_count(address_of(key))
            .await
            .expect("nonce"),
        pending.nonce + 1
    );
    assert_eq!(chain.received(chain.dep.recipient).await, U256::from(3));
}

#[tokio::test]
async fn delivery_whose_block_is_reorganised_away_is_delivered_again_on_the_new_chain() {
    let chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let provider = chain.provider();
    let sub = Arc::new(chain.submitter_with(
        ANVIL_KEYS[2],
        std::slice::from_ref(&chain.anvil.url),
        Duration::from_millis(500),
    ));
    let msgs = batch(0, 3, chain.dep.recipient);
    let args = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs);
    let prepared = sub.prepare(args.0, args.1).await.expect("prepare");

    mining(&provider, false).await;
    let snapshot: U256 = provider
        .raw_request("evm_snapshot".into(), ())
        .await
        .expect("evm_snapshot");
    let pending = sub.submit(&prepared).await.expect("submit");
    let confirming = tokio::spawn({
        let sub = Arc::clone(&sub);
        let pending = pending.clone();
        async move { sub.confirm(&pending).await }
    });
    // Mined in one block, not yet 1 deep (no block on top).
    let _: serde_json::Value = provider
        .raw_request("evm_mine".into(), ())
        .await
        .expect("evm_mine");
    let first = loop {
        if let Some(r) = provider
            .get_transaction_receipt(pending.tx_hash)
            .await
            .expect("eth_getTransactionReceipt")
        {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(first.status());
    assert!(
        !confirming.is_finished(),
        "not final before the confirmation depth"
    );
    // The block is reorganised away.
    let reverted: bool = provider
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .expect("evm_revert");
    assert!(reverted);
    let first_block = first.block_number.expect("block");
    let canonical_there = provider
        .get_block_by_number(first_block.into())
        .await
        .expect("eth_getBlockByNumber")
        .map(|b| b.header.hash);
    assert_ne!(canonical_there, first.block_hash, "the block is gone");
    mining(&provider, true).await;

    let included = tokio::time::timeout(WAIT, confirming)
        .await
        .expect("confirmed in time")
        .expect("no panic")
        .expect("delivered again on the new chain");
    assert_eq!(included.delivered, [ORIGIN; 3], "{included:?}");
    let r = provider
        .get_transaction_receipt(included.tx_hash)
        .await
        .expect("eth_getTransactionReceipt")
        .expect("the delivering tx is on the canonical chain");
    let canonical = provider
        .get_block_by_number(r.block_number.expect("block").into())
        .await
        .expect("eth_getBlockByNumber")
        .map(|b| b.header.hash);
    assert_eq!(canonical, r.block_hash, "included in a canonical block");
    assert_eq!(chain.received(chain.dep.recipient).await, U256::from(3));
    for m in &msgs {
        assert!(chain.is_processed(m).await);
    }
}

#[tokio::test]
async fn several_signer_keys_deliver_in_parallel_each_with_its_own_nonces() {
    use switchyard_evm::submitter::Signers;
    let chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let provider = chain.provider();
    let keys = [ANVIL_KEYS[2], ANVIL_KEYS[3]];
    let signers = Arc::new(
        Signers::new(
            keys.iter().map(|k| chain.submitter(k)).collect(),
            "test keys",
        )
        .expect("distinct keys"),
    );
    // Six batches broadcast before any is confirmed: the least busy key
    // takes each, so both keys carry three.
    let mut pendings = Vec::new();
    for b in 0..6u32 {
        let msgs = batch(b * 2, 2, chain.dep.recipient);
        let args = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs);
        pendings.push(signers.submit(args.0, args.1).await.expect("submit"));
    }
    let per_key: Vec<usize> = (0..2)
        .map(|k| pendings.iter().filter(|p| p.signer == k).count())
        .collect();
    assert_eq!(per_key, [3, 3], "spread over both keys");
    let confirms: Vec<_> = pendings
        .into_iter()
        .map(|p| {
            let s = Arc::clone(&signers);
            tokio::spawn(async move { s.confirm(p).await })
        })
        .collect();
    let mut delivered = 0;
    for c in confirms {
        delivered += c
            .await
            .expect("no panic")
            .expect("included")
            .delivered
            .len();
    }
    assert_eq!(delivered, 12);
    for k in keys {
        assert_eq!(
            provider
                .get_transaction_count(address_of(k))
                .await
                .expect("nonce"),
            3,
            "nonces 0..3 of {k:.10}, no gap, none reused"
        );
    }
    assert_eq!(chain.received(chain.dep.recipient).await, U256::from(12));

    // The same key twice would make the two sequences collide.
    let err = Signers::new(
        vec![chain.submitter(keys[0]), chain.submitter(keys[0])],
        "chains[0] submitter keys",
    )
    .expect_err("duplicate key");
    let text = err.to_string();
    assert!(
        text.contains("chains[0] submitter keys") && text.contains("key 1 repeats key 0"),
        "{text}"
    );
}

#[tokio::test]
async fn gas_burning_recipient_fails_alone_within_its_gas_limit() {
    let (chain, good, _burner, msgs, included) =
        deliver_with_one_bad_recipient(2, "burns everything it is given").await;
    assert_eq!(included.failed, [1_002]);
    assert_eq!(included.delivered, [1_001, 1_003]);
    assert_eq!(chain.received(good).await, U256::from(2));
    // The burner consumed its own allowance, not the batch's: the whole
    // transaction stays far below what an unbounded loop would take.
    assert!(
        included.gas_used < 3 * HANDLE_GAS,
        "gas used {} for a batch with one {HANDLE_GAS}-gas burner",
        included.gas_used
    );
    let inbox = Inbox::new(chain.dep.inbox, chain.provider());
    assert!(inbox.failed(msgs[1].id()).call().await.expect("failed()"));
}

/// `deliver` calldata sent without simulation, as a faulty or malicious
/// relayer could: the Inbox itself must refuse it.
async fn send_unsimulated(sub: &EvmSubmitter, args: (Vec<Bytes>, Vec<Bytes>)) -> EvmError {
    let calldata: Bytes = Inbox::deliverCall {
        messages: args.0,
        signatures: args.1,
    }
    .abi_encode()
    .into();
    let pending = sub
        .submit(&PreparedBatch {
            calldata,
            gas_limit: 1_000_000,
        })
        .await
        .expect("broadcast accepted");
    sub.confirm(&pending)
        .await
        .expect_err("the Inbox reverts it on chain")
}

#[tokio::test]
async fn under_threshold_and_forged_attestations_revert_on_chain() {
    // 2-of-2: one valid signature is under the threshold.
    let attesters = vec![address_of(ANVIL_KEYS[1]), address_of(ANVIL_KEYS[4])];
    let chain = Chain::start(attesters, 2).await;
    let sub = chain.submitter(ANVIL_KEYS[2]);
    let msgs = batch(0, 2, chain.dep.recipient);

    let err = send_unsimulated(&sub, attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs)).await;
    assert!(matches!(err, EvmError::Reverted { .. }), "{err:?}");
    // Forged: two signatures, one by a key that is not an attester.
    let (encoded, mut sigs) = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs);
    sigs.extend(attested(ANVIL_KEYS[3], chain.dep.inbox, &msgs).1);
    let err = send_unsimulated(&sub, (encoded, sigs)).await;
    assert!(matches!(err, EvmError::Reverted { .. }), "{err:?}");
    assert_eq!(chain.received(chain.dep.recipient).await, U256::ZERO);
    for m in &msgs {
        assert!(!chain.is_processed(m).await, "nothing marked delivered");
    }
    // Both real attesters, signatures sorted by signer: accepted.
    let (encoded, mut sigs) = attested(ANVIL_KEYS[1], chain.dep.inbox, &msgs);
    sigs.extend(attested(ANVIL_KEYS[4], chain.dep.inbox, &msgs).1);
    if address_of(ANVIL_KEYS[4]) < address_of(ANVIL_KEYS[1]) {
        sigs.reverse();
    }
    let included = deliver(&sub, (encoded, sigs)).await;
    assert_eq!(included.delivered, [ORIGIN; 2]);
}

#[tokio::test]
async fn a_dropped_transaction_leaves_a_nonce_gap_that_its_replacement_fills() {
    let chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let provider = chain.provider();
    let key = ANVIL_KEYS[2];
    let sub = Arc::new(chain.submitter_with(
        key,
        std::slice::from_ref(&chain.anvil.url),
        Duration::from_millis(400),
    ));
    mining(&provider, false).await;
    // Batch 1 (nonce 0) is accepted, then dropped from the node's pool (a
    // node restart, eviction): the submitter's next nonce is 1 regardless.
    let m1 = batch(0, 2, chain.dep.recipient);
    let a1 = attested(ANVIL_KEYS[1], chain.dep.inbox, &m1);
    let p1 = sub
        .submit(&sub.prepare(a1.0, a1.1).await.expect("prepare 1"))
        .await
        .expect("submit 1");
    let _: serde_json::Value = provider
        .raw_request("anvil_dropTransaction".into(), (p1.tx_hash,))
        .await
        .expect("anvil_dropTransaction");
    let m2 = batch(2, 2, chain.dep.recipient);
    let a2 = attested(ANVIL_KEYS[1], chain.dep.inbox, &m2);
    let p2 = sub
        .submit(&sub.prepare(a2.0, a2.1).await.expect("prepare 2"))
        .await
        .expect("submit 2");
    assert_eq!((p1.nonce, p2.nonce), (0, 1), "a gap at nonce 0");
    mining(&provider, true).await;
    // Batch 2 cannot be mined before nonce 0 is; batch 1's replacement
    // (same nonce, higher fees) fills the gap, then both land.
    let confirm = |p: switchyard_evm::submitter::PendingBatch| {
        let sub = Arc::clone(&sub);
        tokio::spawn(async move { sub.confirm(&p).await })
    };
    let (c1, c2) = (confirm(p1.clone()), confirm(p2.clone()));
    let i1 = tokio::time::timeout(WAIT, c1)
        .await
        .expect("in time")
        .expect("no panic")
        .expect("batch 1 included");
    let i2 = tokio::time::timeout(WAIT, c2)
        .await
        .expect("in time")
        .expect("no panic")
        .expect("batch 2 included");
    assert!(i1.replacements >= 1, "{i1:?}");
    assert_eq!((i1.delivered.len(), i2.delivered.len()), (2, 2));
    assert_eq!(
        provider
            .get_transaction_count(address_of(key))
            .await
            .expect("nonce"),
        2
    );
    assert_eq!(chain.received(chain.dep.recipient).await, U256::from(4));
}

#[tokio::test]
async fn a_stale_endpoint_loses_preference_to_one_that_follows_the_chain() {
    // Two nodes of chain CHAIN_ID: the first stopped following it (mining
    // paused, its head frozen), the second keeps up. The stale one answers
    // every call, so only comparing heads can tell.
    let stale = Anvil::spawn(CHAIN_ID, BLOCK_TIME).expect("anvil");
    let live = Anvil::spawn(CHAIN_ID, BLOCK_TIME).expect("anvil");
    let stale_wallet = DevWallet::connect(&stale.url, ANVIL_KEYS[0])
        .await
        .expect("connect");
    mining(stale_wallet.provider(), false).await;
    let live_wallet = DevWallet::connect(&live.url, ANVIL_KEYS[0])
        .await
        .expect("connect");
    let frozen = stale_wallet
        .provider()
        .get_block_number()
        .await
        .expect("head");
    while live_wallet
        .provider()
        .get_block_number()
        .await
        .expect("head")
        < frozen + switchyard_evm::rpc::STALE_LAG_BLOCKS + 2
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let checks = RpcPolicy {
        stale_check_every: Duration::from_millis(200),
        frozen_after: Duration::from_secs(1),
        ..policy(3)
    };
    let pool = RpcPool::new("dest", &[stale.url.clone(), live.url.clone()], checks).expect("urls");
    assert_eq!(pool.preferred_label(), "dest/endpoint#0");
    // One endpoint's higher head alone does not move preference: it could
    // be a liar's claim.
    assert_eq!(pool.block_number().await.expect("head"), frozen);
    assert_eq!(
        pool.preferred_label(),
        "dest/endpoint#0",
        "not on one claim"
    );
    // The preferred node's own head does not move for `frozen_after` while
    // the other's is ahead: it is stale.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let head = pool.block_number().await.expect("head");
        if pool.preferred_label() == "dest/endpoint#1" {
            assert!(
                head >= frozen + switchyard_evm::rpc::STALE_LAG_BLOCKS,
                "{head} vs frozen {frozen}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still on the stale node after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A TCP forwarder to `target` on a free port, to kill an endpoint mid-run:
/// dropping the returned handle closes the listener and every connection.
struct Proxy {
    url: String,
    task: tokio::task::JoinHandle<()>,
    /// Connections accepted so far.
    used: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy_to(target: &str) -> Proxy {
    let target = target.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let used = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&used);
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let target = target.clone();
            conns.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
        // The JoinSet is dropped with the task: every connection aborts.
    });
    Proxy { url, task, used }
}

#[tokio::test]
async fn an_endpoint_killed_mid_run_hands_over_to_the_second() {
    let chain = Chain::start(vec![address_of(ANVIL_KEYS[1])], 1).await;
    let first = proxy_to(&chain.anvil.url).await;
    let sub = chain.submitter_via(ANVIL_KEYS[2], &[first.url.clone(), chain.anvil.url.clone()]);
    // Through the first endpoint while it lives.
    let m1 = batch(0, 2, chain.dep.recipient);
    let i1 = deliver(&sub, attested(ANVIL_KEYS[1], chain.dep.inbox, &m1)).await;
    assert_eq!(i1.delivered.len(), 2);
    assert!(
        first.used.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the first endpoint carried the first batch"
    );
    drop(first);
    // Killed: the next batch goes through the second endpoint. Broadcasts
    // are never retried blindly, so the caller (the dispatcher) retries a
    // retryable failure, as here.
    let m2 = batch(2, 2, chain.dep.recipient);
    let mut errors = Vec::new();
    let i2 = loop {
        let args = attested(ANVIL_KEYS[1], chain.dep.inbox, &m2);
        let attempt = async {
            let prepared = sub.prepare(args.0, args.1).await?;
            let pending = sub.submit(&prepared).await?;
            sub.confirm(&pending).await
        };
        match attempt.await {
            Ok(i) => break i,
            Err(e) => {
                assert!(e.is_retryable(), "{e}");
                errors.push(e.to_string());
                assert!(errors.len() < 4, "never handed over: {errors:?}");
            }
        }
    };
    assert_eq!(i2.delivered.len(), 2);
    assert_eq!(chain.received(chain.dep.recipient).await, U256::from(4));
}
