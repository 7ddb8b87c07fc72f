//! Independent attesters, each its own `switchyard run --role attester`
//! process with its own endpoints, light client and Redis database, and an
//! Inbox that wants 2 of their 3 signatures:
//!
//! - every message is delivered exactly once; with one attester down too;
//!   with two down nothing is, `/readyz` says why, and delivery resumes
//!   when one returns;
//! - an attester whose endpoint lags signs later, and nothing is lost;
//! - a compromised attester that signs anything, and an attacker holding
//!   the queue key who appends a forged entry to a lane: the forged
//!   message is never delivered, the honest attesters' refusals are
//!   counted, and it is dead-lettered with their reasons;
//! - the Inbox's set and threshold change while traffic flows: nothing is
//!   lost, stuck or delivered twice.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::Provider;
use switchyard::attest::{AttestAnswer, AttestRequest};
use switchyard::metrics::sum_messages_in_text;
use switchyard::store::{LaneEntry, LaneId, QueueKey, Store};
use switchyard_evm::attest::Attester;
use switchyard_localnet::evm::ANVIL_KEYS;
use switchyard_localnet::procs::free_port;
use switchyard_types::{Message, batch_root};

use crate::harness::proxy::TcpForward;
use crate::harness::stack::{
    HubProc, QUEUE_KEY, RedisSide, Stack, assert_exactly_once, metric, single_redis, tail,
};

/// The anvil key of attester `i` (keys 0..=2 deploy, attest alone and
/// submit in the stack).
fn attester_key(i: usize) -> &'static str {
    ANVIL_KEYS[5 + i]
}

fn attester_address(i: usize) -> Address {
    Attester::from_hex(attester_key(i), "test attester")
        .expect("key")
        .address()
}

/// The attesters of a stack: their configuration files and fixed ports (a
/// restarted attester answers where the hub expects it).
struct Attesters {
    dir: PathBuf,
    ports: Vec<u16>,
    /// Per attester, per chain: the RPC URL its light client reads.
    rpc: Vec<Vec<String>>,
    /// Per attester: lines added to its `[attestation]` table.
    attestation: Vec<String>,
    /// Per attester: where the hub asks it (its URL by default), and lines
    /// added to the hub's `[[attesters]]` entry for it.
    asked_at: Vec<Option<(String, String)>>,
    /// Lines added to the hub's configuration (tables).
    hub_tables: String,
}

impl Attesters {
    fn new(stack: &Stack, n: usize) -> Self {
        Self {
            dir: stack.dir.path().to_owned(),
            ports: (0..n).map(|_| free_port()).collect(),
            rpc: (0..n)
                .map(|_| stack.chains.iter().map(|c| c.url.clone()).collect())
                .collect(),
            attestation: vec![String::new(); n],
            asked_at: vec![None; n],
            hub_tables: String::new(),
        }
    }

    fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    /// Attester `i`'s configuration: its own key, token, Redis database and
    /// key prefix, the stack's chains, no queue key.
    fn config(&self, stack: &Stack, i: usize) -> PathBuf {
        let redis_port = match &stack.redis {
            RedisSide::Single { port, .. } => *port,
            RedisSide::Cluster(_) => panic!("a single Redis"),
        };
        let key = self.dir.join(format!("attester-key-{i}"));
        std::fs::write(&key, attester_key(i)).expect("write key");
        let token = self.dir.join(format!("attester-token-{i}"));
        std::fs::write(&token, format!("token-of-attester-{i}")).expect("write token");
        let mut t = format!(
            "role = \"attester\"\nattester_key = {{ file = \"{}\" }}\n[redis]\nurl = \"redis://127.0.0.1:{redis_port}/{}\"\nkey_prefix = \"att{i}\"\n[attestation]\ntokens = [{{ file = \"{}\" }}]\n{}",
            key.display(),
            i + 1,
            token.display(),
            self.attestation[i],
        );
        for (ci, c) in stack.chains.iter().enumerate() {
            t.push_str(&format!(
                "[[chains]]\nname = \"c{ci}\"\ndomain = {}\nchain_id = {}\nrpc_urls = [\"{}\"]\ntrust = \"single_endpoint\"\nmailbox = \"{}\"\ninbox = \"{}\"\nconfirmations = 1\ncheckpoint = {{ number = {}, hash = \"{}\" }}\npoll_interval_ms = 100\n",
                c.domain, c.chain_id, self.rpc[i][ci], c.mailbox, c.inbox, c.checkpoint.0, c.checkpoint.1,
            ));
        }
        let p = self.dir.join(format!("attester-{i}.toml"));
        std::fs::write(&p, t).expect("write config");
        p
    }

    fn spawn(&self, stack: &Stack, i: usize) -> HubProc {
        let cfg = self.config(stack, i);
        let listen = format!("127.0.0.1:{}", self.ports[i]);
        let mut p = stack.spawn_full(
            &format!("attester-{i}"),
            &cfg,
            &[],
            &[("SWITCHYARD__HTTP__LISTEN", listen.as_str())],
        );
        p.http = self.ports[i];
        p
    }

    /// Starts attesters `which` and waits until each serves.
    async fn start(&self, stack: &Stack, which: std::ops::Range<usize>) -> Vec<HubProc> {
        let procs: Vec<HubProc> = which.map(|i| self.spawn(stack, i)).collect();
        for p in &procs {
            until_serving(p).await;
        }
        procs
    }

    /// Starts the hub asking attesters `which` and waits until it is ready.
    async fn start_hub(&self, stack: &Stack, which: &[usize]) -> HubProc {
        let hub = stack.spawn_full("hub", &self.hub_config(stack, which), &[], &[]);
        until_ready(&hub).await;
        hub
    }

    /// The hub's configuration with `[[attesters]]` for attesters `which`.
    fn hub_config(&self, stack: &Stack, which: &[usize]) -> PathBuf {
        let path = stack.config_path();
        let mut text = std::fs::read_to_string(&path).expect("config");
        for &i in which {
            let token = self.dir.join(format!("hub-token-{i}"));
            std::fs::write(&token, format!("token-of-attester-{i}")).expect("write token");
            let (url, extra) = self.asked_at[i]
                .clone()
                .unwrap_or_else(|| (self.url(i), String::new()));
            text.push_str(&format!(
                "[[attesters]]\nname = \"a{i}\"\nurl = \"{url}\"\ntoken = {{ file = \"{}\" }}\n{extra}",
                token.display()
            ));
        }
        text.push_str(&self.hub_tables);
        let p = self.dir.join("hub-with-attesters.toml");
        std::fs::write(&p, text).expect("write config");
        p
    }
}

/// Makes every Inbox of `stack` want `threshold` of `attesters`, from
/// `current`, sent by the owner (the stack's wallet, anvil key 0) in the
/// order the Inbox accepts: the new ones enabled, the threshold set, the
/// old ones disabled.
async fn set_inboxes(
    stack: &mut Stack,
    current: &[Address],
    attesters: &[Address],
    threshold: u64,
) {
    use alloy::sol_types::SolCall;
    use switchyard_evm::bindings::Inbox;
    for c in &mut stack.chains {
        let mut calls: Vec<Vec<u8>> = Vec::new();
        for a in attesters.iter().filter(|a| !current.contains(a)) {
            calls.push(
                Inbox::setAttesterCall {
                    attester: *a,
                    enabled: true,
                }
                .abi_encode(),
            );
        }
        calls.push(
            Inbox::setThresholdCall {
                threshold: alloy::primitives::U256::from(threshold),
            }
            .abi_encode(),
        );
        for a in current.iter().filter(|a| !attesters.contains(a)) {
            calls.push(
                Inbox::setAttesterCall {
                    attester: *a,
                    enabled: false,
                }
                .abi_encode(),
            );
        }
        for data in calls {
            let tx = c
                .wallet
                .send(Some(c.inbox), Bytes::from(data), 200_000)
                .await
                .expect("send");
            c.wallet
                .wait(tx, Duration::from_secs(30))
                .await
                .expect("owner transaction");
        }
    }
}

/// Two chains whose Inboxes want 2 signatures of attesters 0 to 2, and
/// those attesters' configurations (none started).
async fn two_of_three() -> (Stack, Attesters) {
    let mut stack = Stack::new(2, 1, single_redis(false), "retry_base_ms = 50").await;
    let three: Vec<Address> = (0..3).map(attester_address).collect();
    set_inboxes(
        &mut stack,
        &[crate::harness::net::attester_address()],
        &three,
        2,
    )
    .await;
    let att = Attesters::new(&stack, 3);
    (stack, att)
}

async fn until_ready(p: &HubProc) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(p.readyz().await, Some((200, _))) {
        assert!(Instant::now() < deadline, "{}", tail(&p.log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn until_serving(p: &HubProc) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while p.readyz().await.is_none() {
        assert!(Instant::now() < deadline, "{}", tail(&p.log));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `/readyz` of `hub` answers 503 with `needle` in its body.
async fn until_unready_with(hub: &HubProc, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((503, body)) = hub.readyz().await
            && body.contains(needle)
        {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "readyz never said {needle:?}: {:?}\n{}",
            hub.readyz().await,
            tail(&hub.log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_attesters_deliver_exactly_once_and_two_down_stop_delivery() {
    let (mut stack, mut att) = two_of_three().await;
    // Attester 1 reads chain 0 through a link the test can cut: its light
    // client then lags behind the others'.
    let lag = TcpForward::start(&stack.chains[0].url).await;
    att.rpc[1][0] = lag.url();
    let mut procs: Vec<Option<HubProc>> = att
        .start(&stack, 0..3)
        .await
        .into_iter()
        .map(Some)
        .collect();
    let hub = att.start_hub(&stack, &[0, 1, 2]).await;

    // All three up.
    stack.send(3).await;
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&hub.log)
    );
    assert_exactly_once(&stack.verify().await, stack.total_sent());
    let m = hub.metrics().await.expect("metrics");
    assert!(
        metric(
            &m,
            "switchyard_attestation_requests_total",
            &["attester=\"a0\"", "outcome=\"signed\""]
        ) > 0.0,
        "{m}"
    );

    // One down: the other two make the threshold.
    procs[2] = None;
    stack.send(3).await;
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&hub.log)
    );
    assert_exactly_once(&stack.verify().await, stack.total_sent());

    // One down and one lagging: attester 1's light client cannot follow
    // chain 0, so only attester 0 signs chain 0's messages; they wait.
    lag.set(false);
    let waiting_from = stack.total_sent();
    stack.send_routes(&[(0, 1)], 3).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        stack.received().await,
        waiting_from,
        "fewer than 2 attesters verified these\n{}",
        tail(&hub.log)
    );
    let body = until_unready_with(&hub, "below the Inbox's threshold").await;
    assert!(body.contains("c1"), "the destination is named: {body}");
    // Its endpoint back, the lagging attester catches up and signs: nothing
    // was lost meanwhile, nothing dead-lettered.
    lag.set(true);
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&hub.log)
    );
    assert_exactly_once(&stack.verify().await, stack.total_sent());
    until_ready(&hub).await;

    // Two down: nothing is delivered, and /readyz says why.
    procs[1] = None;
    let before = stack.total_sent();
    stack.send(2).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(stack.received().await, before, "{}", tail(&hub.log));
    let body = until_unready_with(&hub, "below the Inbox's threshold").await;
    assert!(body.contains("unreachable"), "{body}");
    // One returns (its record kept in its own Redis): delivery resumes.
    procs[2] = Some(att.spawn(&stack, 2));
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&hub.log)
    );
    assert_exactly_once(&stack.verify().await, stack.total_sent());
    let m = hub.metrics().await.expect("metrics");
    assert_eq!(sum_messages_in_text(&m, "dead_lettered"), 0, "{m}");
    assert!(
        metric(
            &m,
            "switchyard_attestation_short_total",
            &["destination=\"c1\""]
        ) > 0.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "switchyard_attestation_requests_total",
            &["attester=\"a1\"", "outcome=\"unreachable\""]
        ) > 0.0,
        "{m}"
    );
}

/// An attester that signs whatever it is sent: its key stolen, or its
/// operator lying.
async fn compromised_attester(key: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let attester = Attester::from_hex(key, "compromised").expect("key");
    scripted_attester(move |req: AttestRequest| {
        let ids: Vec<B256> = req.ids.iter().map(|i| i.id).collect();
        let root = batch_root(&ids);
        let sig = attester
            .sign_batch(req.chain_id, req.inbox, root)
            .expect("sign");
        let answer = AttestAnswer {
            signer: attester.address(),
            root,
            signature: Some(Bytes::copy_from_slice(&sig)),
            refusals: Vec::new(),
        };
        (200, serde_json::to_string(&answer).expect("json"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_lane_entry_signed_by_a_compromised_attester_is_never_delivered() {
    let (mut stack, mut att) = two_of_three().await;
    // Attester 2 is compromised: the hub reaches it where it expects it.
    let (evil_url, _evil) = compromised_attester(attester_key(2)).await;
    let evil_port: u16 = evil_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    att.ports[2] = evil_port;
    let honest = att.start(&stack, 0..2).await;
    let hub = att.start_hub(&stack, &[0, 1, 2]).await;
    stack.send(2).await;
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&hub.log)
    );

    // The attacker holds the queue key and writes the hub's Redis: a
    // well-formed, authenticated entry from chain 0 to chain 1 carrying a
    // message chain 0's Mailbox never emitted, at a height the chain
    // reaches a few blocks later.
    let origin = &stack.chains[0];
    let dest = &stack.chains[1];
    let head = origin
        .wallet
        .provider()
        .get_block_number()
        .await
        .expect("head");
    let forged = Message {
        version: switchyard_types::MESSAGE_VERSION,
        nonce: 4_000_000,
        origin: origin.domain,
        sender: B256::left_padding_from(origin.wallet.address().as_slice()),
        destination: dest.domain,
        recipient: B256::left_padding_from(dest.recipients[0].as_slice()),
        body: Bytes::from_static(b"forged: mint 1,000,000 to the attacker"),
    };
    let store = Store::connect(
        &stack.redis_target(),
        "rel",
        QueueKey::from_secret(QUEUE_KEY).expect("queue key"),
    )
    .await
    .expect("redis");
    let appended = store
        .lanes()
        .append(
            LaneId {
                dst: dest.domain,
                shard: 0,
            },
            &LaneEntry {
                origin: origin.domain,
                height: head + 3,
                verified_at_ms: switchyard::unix_ms(),
                messages: vec![Bytes::from(forged.encode())],
            },
        )
        .await
        .expect("append");
    assert!(appended, "the forged entry is in the lane");
    let (dest_domain, dest_chain_id, dest_inbox) = (dest.domain, dest.chain_id, dest.inbox);
    let origin_domain = origin.domain;
    // And writes the honest attesters' Redis: a record saying they verified
    // it. Records carry a tag under a key derived from each attester's
    // signing key, so this one is not theirs and counts for nothing.
    let redis_port = match &stack.redis {
        RedisSide::Single { port, .. } => *port,
        RedisSide::Cluster(_) => unreachable!(),
    };
    for i in 0..2 {
        let client =
            redis::Client::open(format!("redis://127.0.0.1:{redis_port}/{}", i + 1)).expect("url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let key = format!("att{i}:{{witness:{}}}:{}", origin.domain, head + 3);
        let mut value = vec![0xab; 32];
        value.extend_from_slice(forged.id().as_slice());
        let _: () = redis::AsyncCommands::set(&mut conn, &key, value)
            .await
            .expect("SET");
    }

    // Honest traffic goes on (and takes the chain past the forged height).
    stack.send(3).await;
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&hub.log)
    );
    // The forged message is dead-lettered with the honest attesters'
    // reasons, never delivered.
    let deadline = Instant::now() + Duration::from_secs(60);
    let m = loop {
        let m = hub.metrics().await.expect("metrics");
        if sum_messages_in_text(&m, "dead_lettered") >= 1 {
            break m;
        }
        assert!(Instant::now() < deadline, "{m}\n{}", tail(&hub.log));
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(sum_messages_in_text(&m, "dead_lettered"), 1, "{m}");
    let v = stack.verify().await;
    assert_eq!(v.unexpected, 0, "the forged message was delivered: {v:?}");
    assert_exactly_once(&v, stack.total_sent());
    let dead = store
        .dead_letters()
        .dead_letters(dest_domain, 4)
        .await
        .expect("dead letters");
    let text = format!("{dead:?}");
    assert!(text.contains("unknown_message"), "{text}");
    for p in &honest {
        let am = p.metrics().await.expect("metrics");
        assert!(
            metric(
                &am,
                "switchyard_attestation_refusals_total",
                &["reason=\"unknown_message\""]
            ) >= 1.0,
            "{am}"
        );
    }
    assert!(
        metric(
            &m,
            "switchyard_attestation_requests_total",
            &["attester=\"a2\"", "outcome=\"signed\""]
        ) > 0.0,
        "the compromised attester signed: {m}"
    );
    assert!(
        metric(
            &m,
            "switchyard_attestation_requests_total",
            &["attester=\"a0\"", "outcome=\"refused\""]
        ) >= 1.0,
        "{m}"
    );

    // Bad input to an honest attester: each refused with a clear error,
    // nothing signed.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/attest", att.url(0));
    let good = serde_json::json!({
        "chain_id": dest_chain_id,
        "inbox": dest_inbox,
        "messages": [{ "height": 1, "message": format!("0x{}", hex::encode(forged.encode())) }],
    });
    let send = |token: Option<&str>, body: String| {
        let mut r = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };
    let answer = |r: reqwest::Response| async move {
        let code = r.status().as_u16();
        (code, r.text().await.expect("body"))
    };
    let (code, body) = answer(send(None, good.to_string()).await.expect("post")).await;
    assert_eq!(code, 401, "no token: {body}");
    let (code, body) = answer(
        send(Some("token-of-attester-1"), good.to_string())
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(code, 401, "another attester's token: {body}");
    let token = Some("token-of-attester-0");
    let (code, body) = answer(send(token, "{\"chain_id\": 1".into()).await.expect("post")).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("request body: expected JSON"), "{body}");
    let mut many = good.clone();
    many["messages"] = serde_json::Value::Array(vec![good["messages"][0].clone(); 2001]);
    let (code, body) = answer(send(token, many.to_string()).await.expect("post")).await;
    assert_eq!(code, 413, "{body}");
    assert!(
        body.contains("expected 1 to 2000 per request, got 2001"),
        "{body}"
    );
    let mut elsewhere = good.clone();
    elsewhere["chain_id"] = serde_json::json!(999_999);
    let (code, body) = answer(send(token, elsewhere.to_string()).await.expect("post")).await;
    assert_eq!(code, 200, "{body}");
    let a: AttestAnswer = serde_json::from_str(&body).expect("an answer");
    assert!(a.signature.is_none(), "{body}");
    assert_eq!(
        a.refusals[0].reason,
        switchyard::attest::RefusalReason::UnknownDestination,
        "{body}"
    );
    let mut garbled = good.clone();
    garbled["messages"][0]["message"] = serde_json::json!("0x0102");
    let (code, body) = answer(send(token, garbled.to_string()).await.expect("post")).await;
    assert_eq!(code, 200, "{body}");
    let a: AttestAnswer = serde_json::from_str(&body).expect("an answer");
    assert_eq!(
        (a.signature.is_none(), a.refusals[0].reason),
        (true, switchyard::attest::RefusalReason::Malformed),
        "{body}"
    );
    // The forged message itself, at a height the attester passed: refused,
    // whatever the caller says.
    let mut claimed = good.clone();
    claimed["messages"][0]["height"] = serde_json::json!(head + 3);
    let (_, body) = answer(send(token, claimed.to_string()).await.expect("post")).await;
    let a: AttestAnswer = serde_json::from_str(&body).expect("an answer");
    assert_eq!(
        (a.signature.is_none(), a.refusals[0].reason),
        (true, switchyard::attest::RefusalReason::UnknownMessage),
        "{body}"
    );

    // The binary encodings: by id (what the dispatcher sends) and by
    // message (what hubs before it send). The same rule, and bytes that do
    // not decode are refused with where and what.
    let send_binary = |content_type: &'static str, body: Vec<u8>| {
        http.post(&url)
            .header("content-type", content_type)
            .bearer_auth("token-of-attester-0")
            .body(body)
            .send()
    };
    use switchyard::attest::{BINARY, BINARY_MESSAGES, RefusalReason, encode_ids, encode_request};
    let by_id = encode_ids(
        dest_chain_id,
        dest_inbox,
        &[origin_domain],
        &[head + 3],
        &[forged.id()],
    );
    let forged_bytes = Bytes::from(forged.encode());
    let by_message = encode_request(
        dest_chain_id,
        dest_inbox,
        std::slice::from_ref(&forged_bytes),
        &[head + 3],
    );
    for (content_type, body) in [(BINARY, &by_id), (BINARY_MESSAGES, &by_message)] {
        let (code, text) =
            answer(send_binary(content_type, body.clone()).await.expect("post")).await;
        assert_eq!(code, 200, "{content_type}: {text}");
        let a: AttestAnswer = serde_json::from_str(&text).expect("an answer");
        assert_eq!(
            (a.signature.is_none(), a.refusals[0].reason),
            (true, RefusalReason::UnknownMessage),
            "{content_type}: {text}"
        );
    }
    let bad_bodies: [(&str, Vec<u8>, &str, u16); 6] = [
        (
            BINARY,
            by_id[..by_id.len() - 1].to_vec(),
            "expected 1 items of 44 bytes (origin, height, id) after byte 36, 80 bytes in all, got 79",
            400,
        ),
        (
            BINARY,
            [&by_id[..], b"x"].concat(),
            "80 bytes in all, got 81",
            400,
        ),
        (
            BINARY_MESSAGES,
            by_message[..by_message.len() - 1].to_vec(),
            "item 0's message at byte 48: expected",
            400,
        ),
        (
            BINARY_MESSAGES,
            [&by_message[..], b"x"].concat(),
            "got 1 bytes more",
            400,
        ),
        (
            BINARY,
            encode_ids(
                dest_chain_id,
                dest_inbox,
                &[origin_domain; 2001],
                &[head + 3; 2001],
                &[forged.id(); 2001],
            ),
            "expected 1 to 2000 per request, got 2001",
            413,
        ),
        (
            BINARY,
            good.to_string().into_bytes(),
            "bytes 0..4: expected the magic",
            400,
        ),
    ];
    for (content_type, body, why, status) in bad_bodies {
        let (code, text) = answer(send_binary(content_type, body).await.expect("post")).await;
        assert_eq!(code, status, "{why}: {text}");
        assert!(text.contains(why), "{why}: {text}");
    }
    let mut both = good.clone();
    both["ids"] = serde_json::json!([{ "origin": origin_domain, "height": 1, "id": forged.id() }]);
    let (code, text) = answer(
        send(Some("token-of-attester-0"), both.to_string())
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(code, 400, "{text}");
    assert!(
        text.contains("expected the batch as messages or as ids, got 1 messages and 1 ids"),
        "{text}"
    );

    // By id, the destination checked is the one the attester recorded with
    // the message, whatever the caller names: a message the attester
    // verified (read from its own record) is signed for the Inbox of the
    // chain it is addressed to, and refused for the other chain's.
    let client = redis::Client::open(format!("redis://127.0.0.1:{redis_port}/1")).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let keys: Vec<String> = redis::AsyncCommands::keys(&mut conn, "att0:{witness:*}:*")
        .await
        .expect("KEYS");
    // Any record but the forged one written above.
    let key = keys
        .iter()
        .find(|k| !k.ends_with(&format!(":{}", head + 3)))
        .expect("attester 0 recorded the honest messages")
        .clone();
    let value: Vec<u8> = redis::AsyncCommands::get(&mut conn, &key)
        .await
        .expect("GET");
    // `<prefix>:{witness:<origin>}:<height>`, tag ‖ 0x02 ‖ (id ‖ destination)*.
    let parse = |part: &str| -> u64 { part.trim_end_matches('}').parse().expect(&key) };
    let mut parts = key.split(':').skip(2);
    let (rec_origin, rec_height) = (
        parse(parts.next().expect("origin")) as u32,
        parse(parts.next().expect("height")),
    );
    assert_eq!(value[32], 2, "a record with destinations: {key}");
    let rec_id = B256::from_slice(&value[33..65]);
    let rec_dest = u32::from_be_bytes(value[65..69].try_into().expect("4 bytes"));
    let chain_of = |domain: u32| {
        stack
            .chains
            .iter()
            .find(|c| c.domain == domain)
            .map(|c| (c.chain_id, c.inbox))
            .expect("a chain of the stack")
    };
    let other = stack
        .chains
        .iter()
        .find(|c| c.domain != rec_dest)
        .map(|c| (c.chain_id, c.inbox))
        .expect("another chain");
    for ((chain_id, inbox), signs) in [(chain_of(rec_dest), true), (other, false)] {
        let body = encode_ids(chain_id, inbox, &[rec_origin], &[rec_height], &[rec_id]);
        let (code, text) = answer(send_binary(BINARY, body).await.expect("post")).await;
        assert_eq!(code, 200, "{text}");
        let a: AttestAnswer = serde_json::from_str(&text).expect("an answer");
        assert_eq!(a.root, batch_root(&[rec_id]), "{text}");
        if signs {
            let sig = a.signature.expect("signed");
            let digest = switchyard_evm::attest::batch_digest(chain_id, inbox, a.root);
            assert_eq!(
                switchyard_evm::attest::recover_signer(digest, &sig).expect("recovers"),
                attester_address(0),
                "{text}"
            );
        } else {
            assert!(a.signature.is_none(), "{text}");
            assert_eq!(
                a.refusals[0].reason,
                RefusalReason::WrongDestination,
                "{text}"
            );
            assert!(
                a.refusals[0]
                    .detail
                    .contains(&format!("the recorded destination domain {rec_dest}")),
                "{text}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attesters_behind_mutual_tls_sign_only_for_a_dispatcher_with_a_certificate() {
    use switchyard_http::testkit::TestCa;
    let (mut stack, mut att) = two_of_three().await;
    // The attesters' server certificates and the dispatchers' client
    // certificates come from two CAs; a third is nobody's.
    let dir = att.dir.clone();
    let (servers, clients, rogue) = (
        TestCa::new("attesters"),
        TestCa::new("dispatchers"),
        TestCa::new("rogue"),
    );
    let servers_ca = servers.write(&dir, "attesters-ca.pem");
    let clients_ca = clients.write(&dir, "dispatchers-ca.pem");
    let tls_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let (hub_cert, hub_key) = clients.issue("hub").write(&dir, "hub-client");
    for (i, port) in tls_ports.iter().enumerate() {
        let (cert, key) = servers
            .issue(&format!("attester-{i}"))
            .write(&dir, &format!("attester-{i}-server"));
        att.attestation[i] = format!(
            "listen = \"127.0.0.1:{port}\"\ntls_cert_file = \"{}\"\ntls_key = {{ file = \"{}\" }}\nclient_ca_file = \"{}\"\n",
            cert.display(),
            key.display(),
            clients_ca.display()
        );
        att.asked_at[i] = Some((
            format!("https://127.0.0.1:{port}"),
            format!(
                "client_cert_file = \"{}\"\nclient_key = {{ file = \"{}\" }}\n",
                hub_cert.display(),
                hub_key.display()
            ),
        ));
    }
    att.hub_tables = format!("[tls]\nca_file = \"{}\"\n", servers_ca.display());
    let procs = att.start(&stack, 0..3).await;
    let hub = att.start_hub(&stack, &[0, 1, 2]).await;
    stack.send(3).await;
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&hub.log)
    );
    assert_exactly_once(&stack.verify().await, stack.total_sent());
    let m = hub.metrics().await.expect("metrics");
    assert!(
        metric(
            &m,
            "switchyard_attestation_requests_total",
            &["outcome=\"signed\""]
        ) >= 2.0,
        "signed over mutual TLS: {m}"
    );

    // Whoever holds a token but no certificate of the dispatchers' CA never
    // gets a request in: no certificate, one of another CA, plain HTTP.
    // The plain listener no longer serves the API at all.
    let url = format!("https://127.0.0.1:{}/v1/attest", tls_ports[0]);
    let body = serde_json::json!({ "chain_id": 1, "inbox": Address::ZERO, "ids": [] }).to_string();
    let roots = switchyard_http::TlsRoots::with_ca_file(&servers_ca).expect("CA");
    let (rogue_cert, rogue_key) = rogue.issue("intruder").write(&dir, "intruder");
    let intruder =
        switchyard_http::Identity::from_pem(&rogue_cert, &std::fs::read(&rogue_key).expect("key"))
            .expect("identity");
    let no_cert = switchyard_http::client(Duration::from_secs(5), &roots).expect("client");
    let wrong_ca = switchyard_http::client_presenting(Duration::from_secs(5), &roots, &intruder)
        .expect("client");
    for (who, client) in [("no certificate", &no_cert), ("another CA's", &wrong_ca)] {
        let r = client
            .post(&url)
            .bearer_auth("token-of-attester-0")
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        assert!(r.is_err(), "{who}: a request got through: {r:?}");
    }
    let plain = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{}/v1/attest", tls_ports[0]))
        .body(body.clone())
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP on the TLS listener: {plain:?}");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/attest", att.url(0)))
        .bearer_auth("token-of-attester-0")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 404, "the API on the plain listener");
    // With the dispatchers' certificate, the request is read (and this
    // empty one refused as such).
    let hub_identity =
        switchyard_http::Identity::from_pem(&hub_cert, &std::fs::read(&hub_key).expect("key"))
            .expect("identity");
    let dispatcher =
        switchyard_http::client_presenting(Duration::from_secs(5), &roots, &hub_identity)
            .expect("client");
    let r = dispatcher
        .post(&url)
        .bearer_auth("token-of-attester-0")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("a request over mutual TLS");
    assert_eq!(r.status().as_u16(), 413, "{:?}", r.text().await);

    // A key that is not the certificate's, or a client CA without a
    // server certificate: refused at start with the setting named.
    let cfg = att.config(&stack, 0);
    let text = std::fs::read_to_string(&cfg).expect("config");
    let (other_cert, _) = servers.issue("other").write(&dir, "other");
    let cases = [
        (
            text.replace(
                &format!(
                    "tls_cert_file = \"{}\"",
                    dir.join("attester-0-server.crt").display()
                ),
                &format!("tls_cert_file = \"{}\"", other_cert.display()),
            ),
            "attestation.tls_cert_file",
            "the key does not go with the certificate",
        ),
        (
            text.replace(&format!("listen = \"127.0.0.1:{}\"\n", tls_ports[0]), ""),
            "attestation.listen",
            "expected an address with tls_cert_file",
        ),
    ];
    for (i, (bad, path, why)) in cases.into_iter().enumerate() {
        let p = dir.join(format!("bad-attester-{i}.toml"));
        std::fs::write(&p, bad).expect("write");
        let out = tokio::time::timeout(
            Duration::from_secs(60),
            tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
                .args(["run", "--config"])
                .arg(&p)
                .env_remove("SWITCHYARD_CONFIG")
                .env("SWITCHYARD__HTTP__LISTEN", "127.0.0.1:0")
                .stdin(std::process::Stdio::null())
                .kill_on_drop(true)
                .output(),
        )
        .await
        .expect("refused without retrying")
        .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{path}: {stderr}");
        assert!(
            stderr.contains(path) && stderr.contains(why),
            "{path}: {stderr}"
        );
        // `switchyard config check` says so too, before any start.
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .args(["config", "check"])
            .arg(&p)
            .env_remove("SWITCHYARD_CONFIG")
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("the binary runs");
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_ne!(out.status.code(), Some(0), "{path}: {said}");
        assert!(said.contains(path) && said.contains(why), "{path}: {said}");
    }
    drop(procs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_hub_says_on_readyz_when_too_few_attesters_answer() {
    let (mut stack, att) = two_of_three().await;
    let mut procs: Vec<Option<HubProc>> = att
        .start(&stack, 0..3)
        .await
        .into_iter()
        .map(Some)
        .collect();
    // The hub holds a token attester 1 does not accept.
    let cfg = att.hub_config(&stack, &[0, 1, 2]);
    std::fs::write(att.dir.join("hub-token-1"), "not-a-token-of-attester-1").expect("write");
    let hub = stack.spawn_full("hub", &cfg, &[], &[]);
    // Two of three answer: enough for the threshold.
    until_ready(&hub).await;
    // No traffic at all, and attester 2 goes down: one answers, the Inbox
    // needs two. /readyz says so before any batch has to wait.
    procs[2] = None;
    let body = until_unready_with(&hub, "attesters below the Inbox's threshold").await;
    for needle in [
        "destination c0",
        "destination c1",
        "1 of 3 attesters answer, the Inbox needs 2",
        "a1: refuses this hub's token (HTTP 401)",
        "a2: unreachable",
    ] {
        assert!(body.contains(needle), "{needle}: {body}");
    }
    assert_eq!(stack.received().await, 0, "nothing was sent");
    // It returns: ready again, and traffic is delivered.
    procs[2] = Some(att.spawn(&stack, 2));
    until_ready(&hub).await;
    stack.send(2).await;
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&hub.log)
    );
    assert_exactly_once(&stack.verify().await, stack.total_sent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_set_and_threshold_change_while_traffic_flows() {
    let mut stack = Stack::new(2, 1, single_redis(false), "retry_base_ms = 50").await;
    let addr: Vec<Address> = (0..4).map(attester_address).collect();
    set_inboxes(
        &mut stack,
        &[crate::harness::net::attester_address()],
        &addr[..3],
        2,
    )
    .await;
    let att = Attesters::new(&stack, 4);
    let mut procs: Vec<Option<HubProc>> = att
        .start(&stack, 0..4)
        .await
        .into_iter()
        .map(Some)
        .collect();
    // The hub knows all four; the Inbox counts three of them.
    let hub = att.start_hub(&stack, &[0, 1, 2, 3]).await;
    stack.send(2).await;
    assert!(
        stack.wait_all(Duration::from_secs(120)).await,
        "{}",
        tail(&hub.log)
    );
    // Attester 3 signs too once its light client has caught up; its
    // signatures are left out, the Inbox does not count it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = hub.metrics().await.expect("metrics");
        let outside = metric(
            &m,
            "switchyard_attestation_requests_total",
            &["attester=\"a3\"", "outcome=\"not_in_set\""],
        );
        if outside > 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "{m}");
        stack.send(1).await;
        assert!(
            stack.wait_all(Duration::from_secs(60)).await,
            "{}",
            tail(&hub.log)
        );
    }

    // Rotation under traffic: attester 3 in, attester 0 out, threshold 3
    // (the hub's cached set says 2 for a while: the Inbox refuses those
    // submissions and the hub reads the set again).
    stack.send(4).await;
    set_inboxes(&mut stack, &addr[..3], &addr[1..4], 3).await;
    stack.send(3).await;
    // Attester 0 is gone from the set, and then from the machine.
    procs[0] = None;
    stack.send(3).await;
    assert!(
        stack.wait_all(Duration::from_secs(180)).await,
        "{}",
        tail(&hub.log)
    );
    assert_exactly_once(&stack.verify().await, stack.total_sent());
    let m = hub.metrics().await.expect("metrics");
    assert_eq!(sum_messages_in_text(&m, "dead_lettered"), 0, "{m}");
}

#[test]
fn the_devnet_runs_three_attester_processes_two_of_which_must_sign() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "devnet",
            "--messages",
            "100",
            "--confirmations",
            "1",
            "--attesters",
            "3",
            "--threshold",
            "2",
            "--batch-size",
            "100",
            "--timeout-secs",
            "300",
        ])
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "devnet failed: {}\nstdout: {stdout}\nstderr: {stderr}",
        out.status
    );
    for i in 0..3 {
        assert!(
            stderr.contains(&format!("attester {i} serving http://127.0.0.1:")),
            "{stderr}"
        );
    }
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().expect("a summary")).expect("JSON");
    for k in ["sent", "delivered"] {
        assert_eq!(report[k].as_u64(), Some(200), "{k}: {report}");
    }
    for k in ["duplicates", "lost", "mismatched"] {
        assert_eq!(report[k].as_u64(), Some(0), "{k}: {report}");
    }
    // Two signatures a batch: an Inbox of threshold 1 would be cheaper, one
    // refusing them would have delivered nothing.
    let gas = report["metrics"]["gas_per_message"].as_f64().expect("gas");
    assert!(gas > 0.0, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attesters_record_written_by_anyone_else_counts_for_nothing() {
    let redis = switchyard_localnet::procs::RedisServer::spawn(None).expect("redis-server");
    let target = switchyard::store::RedisTarget::Single(redis.url.clone());
    let key = |b: u8| QueueKey::new(&[b; 32]).expect("key");
    let store = Store::connect(&target, "att", key(1)).await.expect("redis");
    let witness = store.witness(3600);
    let ids: Vec<(B256, u32)> = (0u8..5).map(|i| (B256::repeat_byte(i + 1), 9)).collect();
    witness.record(7, 100, &ids).await.expect("record");
    let found = witness.lookup(7, &[100, 101]).await.expect("lookup");
    assert_eq!(found[0].len(), 5);
    assert_eq!(
        found[0].get(&ids[3].0),
        Some(&Some(9)),
        "with its destination"
    );
    assert!(found[1].is_empty(), "nothing recorded at 101");

    // A writer of this Redis adds an id to the record, copies the record to
    // another height, or writes one of its own: none of them is accepted.
    let client = redis::Client::open(redis.url.clone()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    use redis::AsyncCommands;
    let at = |h: u64| format!("att:{{witness:7}}:{h}");
    let mut value: Vec<u8> = conn.get(at(100)).await.expect("GET");
    let honest = value.clone();
    value.extend_from_slice(B256::repeat_byte(0xee).as_slice());
    value.extend_from_slice(&9u32.to_be_bytes());
    let _: () = conn.set(at(100), value).await.expect("SET");
    let _: () = conn.set(at(102), honest.clone()).await.expect("SET");
    let mut own = vec![0u8; 32];
    own.extend_from_slice(B256::repeat_byte(0xee).as_slice());
    let _: () = conn.set(at(103), own).await.expect("SET");
    let found = witness.lookup(7, &[100, 102, 103]).await.expect("lookup");
    assert!(found.iter().all(|s| s.is_empty()), "{found:?}");
    // Nor does a record of another attester (another key) count here.
    let other = Store::connect(&target, "att", key(2)).await.expect("redis");
    other
        .witness(3600)
        .record(7, 104, &ids)
        .await
        .expect("record");
    assert!(witness.lookup(7, &[104]).await.expect("lookup")[0].is_empty());
    // The honest record put back is read again.
    let _: () = conn.set(at(100), honest).await.expect("SET");
    assert_eq!(witness.lookup(7, &[100]).await.expect("lookup")[0].len(), 5);

    // What the attester's process asks: it keeps the ids of its recent
    // heights in memory, so a writer of its Redis can change nothing there
    // either (nor deny a recorded message by overwriting its record), and
    // heights past that memory are still read, and checked, from Redis.
    let verified = switchyard::attest::Verified::new(store.witness(3600), store.origin_state());
    let id_at = |h: u64, i: u8| alloy::primitives::keccak256([&h.to_be_bytes()[..], &[i]].concat());
    for h in 200..300u64 {
        let at_h: Vec<(B256, u32)> = (0..5).map(|i| (id_at(h, i), u32::from(i))).collect();
        verified.record(8, h, &at_h).await.expect("record");
    }
    let (old, new) = (
        format!("att:{{witness:8}}:{}", 200),
        format!("att:{{witness:8}}:{}", 299),
    );
    let _: () = conn.set(&new, vec![0u8; 64]).await.expect("SET");
    let _: () = conn.set(&old, vec![0u8; 64]).await.expect("SET");
    let asked = [
        (id_at(299, 0), 299),           // recent: from memory, despite the overwrite
        (id_at(299, 1), 298),           // recorded, but at another height
        (B256::repeat_byte(0xee), 299), // never recorded
        (id_at(250, 4), 250),           // recent
        (id_at(201, 2), 201),           // past the memory: read from Redis, authentic
        (id_at(200, 2), 200),           // past the memory, and its record overwritten
        (id_at(300, 0), 300),           // a height never recorded
    ];
    use switchyard::attest::Recorded::{No, To};
    assert_eq!(
        verified.lookup(8, &asked).await.expect("lookup"),
        [To(0), No, No, To(4), To(2), No, No]
    );
}

/// A destination whose Inbox counts `members` with `threshold`, as far as
/// the dispatcher's attester client asks (it sends nothing).
#[derive(Debug)]
struct SetOnly {
    members: Vec<Address>,
    threshold: u64,
}

impl switchyard::chain::BatchSink for SetOnly {
    type Pending = ();

    async fn submit(
        &self,
        _messages: Vec<Bytes>,
        _signatures: Vec<Bytes>,
    ) -> Result<(), switchyard_evm::EvmError> {
        Ok(())
    }

    async fn confirm(
        &self,
        _pending: (),
    ) -> Result<switchyard_evm::submitter::Included, switchyard_evm::EvmError> {
        Err(switchyard_evm::EvmError::NotFound {
            what: "nothing is sent here".into(),
        })
    }

    async fn attester_set(
        &self,
        candidates: &[Address],
    ) -> Result<(u64, Vec<bool>), switchyard_evm::EvmError> {
        Ok((
            self.threshold,
            candidates
                .iter()
                .map(|c| self.members.contains(c))
                .collect(),
        ))
    }
}

/// An attester answering `answer(request)` as it likes.
async fn scripted_attester(
    answer: impl Fn(AttestRequest) -> (u16, String) + Clone + Send + Sync + 'static,
) -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/v1/attest",
        axum::routing::post(move |body: axum::body::Bytes| {
            let answer = answer.clone();
            async move {
                // The dispatcher sends the binary encoding.
                let req =
                    switchyard::attest::decode_request(&body, 2000).expect("a binary request");
                let (code, body) = answer(req);
                (
                    axum::http::StatusCode::from_u16(code).expect("status"),
                    body,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dispatcher_keeps_only_signatures_the_inbox_will_count() {
    let (chain_id, inbox) = (31_337u64, Address::repeat_byte(0x1b));
    let messages: Vec<Bytes> = (0..3u32)
        .map(|n| {
            Bytes::from(
                Message {
                    version: switchyard_types::MESSAGE_VERSION,
                    nonce: n,
                    origin: 1000,
                    sender: B256::repeat_byte(1),
                    destination: 2000,
                    recipient: B256::repeat_byte(2),
                    body: Bytes::from_static(b"hello"),
                }
                .encode(),
            )
        })
        .collect();
    let ids: Vec<B256> = messages
        .iter()
        .map(|m| switchyard_types::id_of_encoded(m))
        .collect();
    let root = batch_root(&ids);
    let key = |i: usize| {
        let secret = alloy::primitives::keccak256((i as u64).to_be_bytes());
        Attester::from_hex(&format!("{secret:x}"), "k").expect("key")
    };
    let signed = move |signer: Attester, claims: Address, over: B256| {
        let sig = signer.sign_batch(chain_id, inbox, over).expect("sign");
        serde_json::to_string(&AttestAnswer {
            signer: claims,
            root: over,
            signature: Some(Bytes::copy_from_slice(&sig)),
            refusals: Vec::new(),
        })
        .expect("json")
    };
    // 0 and 1: honest; 2: signs with its key but names attester 0; 3:
    // signs another root; 4: answers garbage; 5: a server error; 6: honest
    // but not in the Inbox's set.
    let mut urls = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..7usize {
        let (a0, me) = (key(0).address(), key(i));
        let other = B256::repeat_byte(0x77);
        let (url, task) = scripted_attester(move |_req| match i {
            2 => (200, signed(me.clone(), a0, root)),
            3 => (200, signed(me.clone(), me.address(), other)),
            4 => (200, "{\"signer\": 12}".into()),
            5 => (500, "{\"error\": \"the attester's store failed\"}".into()),
            _ => (200, signed(me.clone(), me.address(), root)),
        })
        .await;
        urls.push(url);
        tasks.push(task);
    }
    let dir = tempfile::tempdir().expect("dir");
    let token = dir.path().join("token");
    std::fs::write(&token, "t").expect("token");
    let mut text = format!(
        "attester_key = {{ env = \"UNUSED\" }}\nqueue_key = {{ env = \"UNUSED\" }}\n[redis]\nurl = \"redis://127.0.0.1:1\"\n[[chains]]\nname = \"d\"\ndomain = 2000\nchain_id = {chain_id}\nrpc_urls = [\"http://127.0.0.1:1\"]\ntrust = \"single_endpoint\"\nmailbox = \"{inbox}\"\ninbox = \"{inbox}\"\nsubmitter_key = {{ env = \"UNUSED\" }}\n"
    );
    for (i, u) in urls.iter().enumerate() {
        text.push_str(&format!(
            "[[attesters]]\nname = \"a{i}\"\nurl = \"{u}\"\ntoken = {{ file = \"{}\" }}\n",
            token.display()
        ));
    }
    let cfg = switchyard::config::Config::from_toml(&text).expect("config");
    let metrics = switchyard::metrics::Metrics::new();
    let collector = switchyard::attest::Collector::from_config(
        &cfg,
        &switchyard_http::TlsRoots::public(),
        metrics.clone(),
    )
    .expect("collector");
    let sink = SetOnly {
        members: (0..6).map(|i| key(i).address()).collect(),
        threshold: 2,
    };
    let heights = [5u64, 5, 6];
    let sigs = collector
        .collect(&sink, chain_id, inbox, &ids, &[1000; 3], &heights, root)
        .await
        .expect("two honest signatures");
    assert_eq!(sigs.len(), 2, "the threshold, no more");
    let signers: Vec<Address> = sigs
        .iter()
        .map(|s| {
            switchyard_evm::attest::recover_signer(
                switchyard_evm::attest::batch_digest(chain_id, inbox, root),
                s,
            )
            .expect("recovers")
        })
        .collect();
    let mut sorted = signers.clone();
    sorted.sort();
    assert_eq!(signers, sorted, "by increasing signer, as the Inbox wants");
    assert!(
        signers
            .iter()
            .all(|s| [key(0).address(), key(1).address()].contains(s))
    );

    // The set now read and fresh, the next batch asks only as many as the
    // threshold, those that signed first: the five that did not are not
    // asked at all while the two honest ones sign.
    let asked_of = |text: &str, a: &str| -> f64 {
        switchyard::attest::collect::OUTCOMES
            .iter()
            .map(|o| {
                metric(
                    text,
                    "switchyard_attestation_requests_total",
                    &[&format!("attester=\"{a}\""), &format!("outcome=\"{o}\"")],
                )
            })
            .sum()
    };
    let before = metrics.render();
    for _ in 0..3 {
        let sigs = collector
            .collect(&sink, chain_id, inbox, &ids, &[1000; 3], &heights, root)
            .await
            .expect("two honest signatures");
        assert_eq!(sigs.len(), 2);
    }
    let after = metrics.render();
    for a in ["a2", "a3", "a4", "a5", "a6"] {
        assert_eq!(
            asked_of(&after, a),
            asked_of(&before, a),
            "{a} asked: {after}"
        );
    }
    assert_eq!(
        asked_of(&after, "a0") + asked_of(&after, "a1"),
        asked_of(&before, "a0") + asked_of(&before, "a1") + 6.0,
        "two asked a batch: {after}"
    );

    // With a threshold of 3 the honest two are not enough; whoever answered
    // is counted as what it was (the early return needs a cached set, so
    // the first batch waited for every answer already).
    let sink3 = SetOnly {
        members: sink.members.clone(),
        threshold: 3,
    };
    collector.forget_set(chain_id, inbox);
    let err = collector
        .collect(&sink3, chain_id, inbox, &ids, &[1000; 3], &heights, root)
        .await
        .expect_err("2 of 3");
    assert!(
        matches!(
            err,
            switchyard_evm::EvmError::BelowThreshold {
                got: 2,
                threshold: 3,
                ..
            }
        ),
        "{err}"
    );
    let text = metrics.render();
    let count = |a: &str, o: &str| {
        metric(
            &text,
            "switchyard_attestation_requests_total",
            &[&format!("attester=\"{a}\""), &format!("outcome=\"{o}\"")],
        )
    };
    for (a, o) in [
        ("a2", "invalid"),
        ("a3", "invalid"),
        ("a4", "invalid"),
        ("a5", "unreachable"),
        ("a6", "not_in_set"),
    ] {
        assert!(count(a, o) >= 1.0, "{a} {o}: {text}");
        assert_eq!(count(a, "signed"), 0.0, "{a}: {text}");
    }
    assert_eq!(count("a5", "invalid"), 0.0, "counted once: {text}");
}
