//! The integrators' SDK against the real thing: a signing alloy provider
//! dispatches through the origin Mailbox with `Sender`, the hub relays, and
//! `Tracker` on the destination Inbox reports delivery (with the
//! transaction), a recipient's revert as a recorded failure (with the
//! reason), and a timeout for a message nobody sent.

use std::time::Duration;

use alloy::providers::RootProvider;
use switchyard_sdk::{Message, Outcome, SdkError, Tracker};

use crate::harness::stack::{Stack, single_redis, tail};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_dispatches_tracks_delivery_failure_and_timeout() {
    let mut stack = Stack::new(2, 2, single_redis(false), "").await;
    let hub = stack.spawn_hub("hub");
    // An integrator's own key, not one the stack or the hub uses.
    let (sender, _) = stack.integrator_sender(0, 5).await;
    assert_eq!(sender.origin(), stack.chains[0].domain);
    let dest = stack.chains[1].domain;
    let (good, bad) = (stack.chains[1].recipients[0], stack.chains[1].recipients[1]);

    let sent = sender
        .dispatch(dest, good.into_word(), b"hello from the sdk".to_vec())
        .await
        .expect("dispatched");
    assert_eq!(sent.message.origin, stack.chains[0].domain);
    assert_eq!(sent.message.destination, dest);
    assert_eq!(&sent.message.body[..], b"hello from the sdk");
    assert_eq!(sent.id, sent.message.id());
    assert_eq!(
        Message::decode(&sent.message.encode()).expect("round trip"),
        sent.message
    );

    let tracker = Tracker::new(
        RootProvider::new_http(stack.chains[1].url.parse().expect("url")),
        stack.chains[1].inbox,
    )
    .with_poll(Duration::from_millis(200));
    let d = tracker
        .wait(&sent.message, Duration::from_secs(90))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", tail(&hub.log)));
    assert_eq!(d.outcome, Outcome::Delivered);
    assert!(d.tx_hash.is_some() && d.block.is_some(), "{d:?}");

    // A recipient that reverts: recorded as failed, with its reason.
    stack.set_recipient_mode(1, bad, 1).await;
    let failing = sender
        .dispatch(dest, bad.into_word(), b"this one reverts".to_vec())
        .await
        .expect("dispatched");
    let d = tracker
        .wait(&failing.message, Duration::from_secs(90))
        .await
        .expect("processed");
    match &d.outcome {
        Outcome::Failed { reason } => {
            // "TestRecipient: rejected", ABI-encoded as Error(string).
            assert!(
                reason.contains(&alloy::hex::encode("TestRecipient: rejected")),
                "{reason}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }

    // A message nobody dispatched: a retryable timeout.
    let mut never = sent.message.clone();
    never.nonce += 1_000;
    let err = tracker
        .wait(&never, Duration::from_secs(1))
        .await
        .expect_err("never sent");
    assert!(matches!(err, SdkError::Timeout { .. }), "{err}");
    assert!(err.is_retryable());
}
