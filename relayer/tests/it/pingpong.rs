//! The example application end to end: a PingPong on each of two anvil
//! chains (the `Receiver` base: only the Inbox calls `handle`, origins and
//! senders allow-listed), a ping from chain A relayed by the hub to B,
//! answered there with a pong that the hub relays back to A; and a ping from
//! a PingPong B does not list, refused by B and recorded as failed by the
//! Inbox, never answered.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::sol_types::{SolCall, SolEvent};
use switchyard_evm::bindings::{ARTIFACTS_DIR, PingPong};
use switchyard_localnet::evm::{DevWallet, deploy_ping_pong};
use switchyard_sdk::{Outcome, Tracker};

use crate::harness::stack::{Stack, single_redis, tail};

async fn call(wallet: &mut DevWallet, to: Address, data: Vec<u8>) {
    let h = wallet
        .send(Some(to), data.into(), 1_000_000)
        .await
        .expect("accepted");
    wallet
        .wait(h, Duration::from_secs(30))
        .await
        .expect("mined");
}

async fn counter(stack: &Stack, ci: usize, app: Address, which: &str) -> U256 {
    let p = PingPong::new(app, stack.chains[ci].wallet.provider().clone());
    match which {
        "pingsReceived" => p.pingsReceived().call().await,
        "pongsReceived" => p.pongsReceived().call().await,
        "pongsSent" => p.pongsSent().call().await,
        _ => p.pingsSent().call().await,
    }
    .expect("counter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pingpong_round_trip_through_the_hub_and_an_unlisted_peer_refused() {
    let mut stack = Stack::new(2, 1, single_redis(false), "").await;
    let hub = stack.spawn_hub("hub");
    let artifacts = switchyard_localnet::procs::repo_root().join(ARTIFACTS_DIR);
    let (da, db) = (stack.chains[0].domain, stack.chains[1].domain);
    let mut apps = Vec::new();
    for ci in 0..2 {
        let (mailbox, inbox) = (stack.chains[ci].mailbox, stack.chains[ci].inbox);
        let w = &mut stack.chains[ci].wallet;
        apps.push(
            deploy_ping_pong(w, &artifacts, mailbox, inbox, 2)
                .await
                .expect("PingPong deploys"),
        );
    }
    // A stranger PingPong on A, which B does not list.
    let (mailbox_a, inbox_a) = (stack.chains[0].mailbox, stack.chains[0].inbox);
    let stranger = deploy_ping_pong(
        &mut stack.chains[0].wallet,
        &artifacts,
        mailbox_a,
        inbox_a,
        2,
    )
    .await
    .expect("deploys");
    // Each side lists the other (origin domain and sender).
    for (ci, me, peer_domain, peer) in [(0, apps[0], db, apps[1]), (1, apps[1], da, apps[0])] {
        let w = &mut stack.chains[ci].wallet;
        call(
            w,
            me,
            PingPong::setOriginCall {
                origin: peer_domain,
                allowed: true,
            }
            .abi_encode(),
        )
        .await;
        call(
            w,
            me,
            PingPong::setSenderCall {
                origin: peer_domain,
                sender: peer.into_word(),
                allowed: true,
            }
            .abi_encode(),
        )
        .await;
    }
    // The stranger lists B so that it may ping it; B does not list it.
    for data in [
        PingPong::setOriginCall {
            origin: db,
            allowed: true,
        }
        .abi_encode(),
        PingPong::setSenderCall {
            origin: db,
            sender: apps[1].into_word(),
            allowed: true,
        }
        .abi_encode(),
    ] {
        call(&mut stack.chains[0].wallet, stranger, data).await;
    }

    // Ping from A.
    call(
        &mut stack.chains[0].wallet,
        apps[0],
        PingPong::pingCall {
            destination: db,
            peer: apps[1].into_word(),
        }
        .abi_encode(),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(90);
    while counter(&stack, 0, apps[0], "pongsReceived").await == U256::ZERO {
        assert!(
            Instant::now() < deadline,
            "no pong came back\n{}",
            tail(&hub.log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (ci, name) in [
        (1, "pingsReceived"),
        (1, "pongsSent"),
        (0, "pingsSent"),
        (0, "pongsReceived"),
    ] {
        assert_eq!(
            counter(&stack, ci, apps[ci], name).await,
            U256::from(1),
            "{name} on chain {ci}"
        );
    }

    // The stranger's ping reaches B's Inbox, is refused by B's allow-list
    // and recorded as failed; B answers nothing.
    let h = stack.chains[0]
        .wallet
        .send(
            Some(stranger),
            PingPong::pingCall {
                destination: db,
                peer: apps[1].into_word(),
            }
            .abi_encode()
            .into(),
            1_000_000,
        )
        .await
        .expect("accepted");
    let receipt = stack.chains[0]
        .wallet
        .wait(h, Duration::from_secs(30))
        .await
        .expect("mined");
    let message = receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| {
            switchyard_evm::bindings::Mailbox::Dispatch::decode_log(&l.inner)
                .ok()
                .map(|d| switchyard_sdk::Message::decode(&d.data.message).expect("message"))
        })
        .expect("a Dispatch event");
    let tracker = Tracker::new(
        stack.chains[1].wallet.provider().clone(),
        stack.chains[1].inbox,
    )
    .with_poll(Duration::from_millis(200));
    let d = tracker
        .wait(&message, Duration::from_secs(90))
        .await
        .expect("processed");
    assert!(matches!(d.outcome, Outcome::Failed { .. }), "{d:?}");
    assert_eq!(
        counter(&stack, 1, apps[1], "pingsReceived").await,
        U256::from(1)
    );
    assert_eq!(
        counter(&stack, 1, apps[1], "pongsSent").await,
        U256::from(1)
    );
}
