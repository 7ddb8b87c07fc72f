//! What `switchyard config check` finds beyond [`Config::validate`]: the
//! things a start would trip on that a valid configuration can still hold.
//! Every secret reference is read (never shown), every origin has the
//! checkpoint its first start needs, trusted hashes are not placeholders,
//! and trust modes weaker than a chain allows are pointed out.

use super::{Config, ConfigError, HeaderTrust, PUBLIC_ETHEREUM_CHAIN_IDS, SecretRef, cfg_err};

/// Public chains whose blocks the hub can prove rather than count votes
/// for (beacon light client, or the rollup's settlement), besides
/// [`PUBLIC_ETHEREUM_CHAIN_IDS`]: header-chain mode on them draws a
/// warning.
const PUBLIC_CHAIN_IDS: &[(u64, &str)] = &[
    (10, "OP Mainnet"),
    (8453, "Base"),
    (42_161, "Arbitrum One"),
    (42_170, "Arbitrum Nova"),
    (11_155_420, "OP Sepolia"),
    (84_532, "Base Sepolia"),
    (421_614, "Arbitrum Sepolia"),
    (137, "Polygon PoS"),
    (56, "BNB Smart Chain"),
    (100, "Gnosis"),
    (59_144, "Linea"),
    (534_352, "Scroll"),
    (324, "zkSync Era"),
];

/// What `config check` found.
#[derive(Debug, Default)]
pub struct Report {
    /// What would stop or endanger a start.
    pub errors: Vec<ConfigError>,
    /// What works but is weaker than it could be.
    pub warnings: Vec<ConfigError>,
    /// Secrets read, by path and source (never their values).
    pub resolved: Vec<String>,
}

/// Checks `cfg` (already loaded and validated) as a start would meet it;
/// with `read_secrets` false the key secrets (attester, queue, admin and
/// submitter keys) are not read: for a configuration checked where they
/// are not mounted (a chart rendered in CI).
pub fn check(cfg: &Config, read_secrets: bool) -> Report {
    let mut r = Report::default();
    let mut secret = |path: String, s: &SecretRef| {
        if !read_secrets {
            return;
        }
        match s.resolve(&path) {
            Ok(_) => r.resolved.push(format!("{path} from {}", source(s))),
            Err(e) => r.errors.push(e),
        }
    };
    if let Some(k) = &cfg.attester_key {
        secret("attester_key".into(), k);
    }
    if let Some(k) = &cfg.queue_key {
        secret("queue_key".into(), k);
    }
    // Each read only where it is used (and mounted): the attesters' tokens
    // by dispatchers, the accepted tokens by an attester.
    for (i, a) in cfg
        .attesters
        .iter()
        .enumerate()
        .filter(|_| cfg.role.dispatches())
    {
        secret(format!("attesters[{i}].token"), &a.token);
        if let Some(k) = &a.client_key {
            secret(format!("attesters[{i}].client_key"), k);
        }
    }
    for (i, t) in cfg.attestation.tokens.iter().enumerate() {
        secret(format!("attestation.tokens[{i}]"), t);
    }
    if let Some(k) = &cfg.attestation.tls_key {
        secret("attestation.tls_key".into(), k);
    }
    for (i, k) in cfg.accepted_queue_keys.iter().enumerate() {
        secret(format!("accepted_queue_keys[{i}]"), k);
    }
    if let Some(t) = &cfg.admin_token {
        secret("admin_token".into(), t);
    }
    for (i, t) in cfg.accepted_admin_tokens.iter().enumerate() {
        secret(format!("accepted_admin_tokens[{i}]"), t);
    }
    if let Some(k) = &cfg.tls.redis_client_key {
        secret("tls.redis_client_key".into(), k);
    }
    for (i, c) in cfg.chains.iter().enumerate() {
        if let Some(k) = &c.submitter_key {
            secret(format!("chains[{i}].submitter_key"), k);
        }
        for (k, s) in c.extra_submitter_keys.iter().enumerate() {
            secret(format!("chains[{i}].extra_submitter_keys[{k}]"), s);
        }
    }
    // Certificates with their keys: read, and checked to belong together.
    if read_secrets {
        if let Err(e) = cfg.attestation.server_tls() {
            r.errors.push(e);
        }
        for (i, a) in cfg.attesters.iter().enumerate() {
            let (Some(cert), Some(key)) = (&a.client_cert_file, &a.client_key) else {
                continue;
            };
            let path = format!("attesters[{i}].client_cert_file");
            if let Ok(k) = key.resolve(&format!("attesters[{i}].client_key"))
                && let Err(e) = switchyard_http::Identity::from_pem(cert, k.expose().as_bytes())
            {
                r.errors.push(cfg_err(path, e.to_string()));
            }
        }
    }
    let queue_keys = cfg
        .queue_key
        .iter()
        .map(|k| ("queue_key".to_owned(), k))
        .chain(
            cfg.accepted_queue_keys
                .iter()
                .enumerate()
                .map(|(i, k)| (format!("accepted_queue_keys[{i}]"), k)),
        );
    for (path, key) in queue_keys.filter(|_| read_secrets) {
        if let Ok(k) = key.resolve(&path)
            && let Err(crate::store::StoreError::Key { reason }) =
                crate::store::QueueKey::from_secret(k.expose())
        {
            r.errors.push(cfg_err(path, reason));
        }
    }
    for (i, c) in cfg.chains.iter().enumerate() {
        let p = |k: &str| format!("chains[{i}].{k}");
        if cfg.role.watches() {
            match &c.checkpoint {
                None => r.errors.push(cfg_err(
                    p("checkpoint"),
                    "expected { number, hash } of a block you trust (the first start has no persisted state to resume and refuses to start without it), got none",
                )),
                Some(cp) => placeholder(&mut r, p("checkpoint.hash"), &cp.hash.0),
            }
        }
        if let Some(b) = &c.beacon {
            placeholder(&mut r, p("beacon.trusted_root"), &b.trusted_root.0);
            if let Some(n) = &b.custom {
                placeholder(
                    &mut r,
                    p("beacon.custom.genesis_validators_root"),
                    &n.genesis_validators_root.0,
                );
            }
        }
        let header_chain = c.beacon.is_none() && c.rollup.is_none();
        let public = PUBLIC_ETHEREUM_CHAIN_IDS
            .iter()
            .chain(PUBLIC_CHAIN_IDS)
            .find(|(id, _)| *id == c.chain_id);
        if let (true, Some((id, network))) = (header_chain, public) {
            let proof = if PUBLIC_ETHEREUM_CHAIN_IDS.iter().any(|(x, _)| x == id) {
                "[chains.beacon] (the beacon light client proves its blocks)"
            } else {
                "a proof of its blocks ([chains.rollup] for a rollup settling on a chain the hub follows)"
            };
            r.warnings.push(cfg_err(
                p("chain_id"),
                format!(
                    "chain_id {id} is {network}, followed in header-chain mode ({}): expected {proof}, got endpoints trusted by {}",
                    if c.trust == HeaderTrust::SingleEndpoint {
                        "trust = \"single_endpoint\""
                    } else {
                        "trust = \"quorum\""
                    },
                    if c.trust == HeaderTrust::SingleEndpoint {
                        "one source, which can forge messages"
                    } else {
                        "agreement only"
                    }
                ),
            ));
        }
        if c.inbox.is_none() && c.submitter_key.is_some() {
            r.warnings.push(cfg_err(
                p("submitter_key"),
                "expected none on a chain without inbox (an origin only), got a key that is never used",
            ));
        }
    }
    if cfg.role.watches() {
        for (i, o) in cfg.cometbft_origins.iter().enumerate() {
            if let Ok(switchyard_lc_cometbft::Hash::Sha256(h)) = o.trusted_hash() {
                placeholder(&mut r, format!("cometbft_origins[{i}].trusted_hash"), &h);
            }
        }
    }
    r
}

fn source(s: &SecretRef) -> String {
    match (&s.env, &s.file) {
        (Some(e), _) => format!("env {e}"),
        (_, Some(f)) => format!("file {}", f.display()),
        _ => "nowhere".into(),
    }
}

/// Refuses a hash that is a placeholder: all zeros, or one short pattern
/// repeated (`0x1111…`, `0xdeadbeef…`, `0x0123…f0123…`): no real block
/// hash has a period of 16 hex digits or less.
fn placeholder(r: &mut Report, path: String, hash: &[u8]) {
    if let Some(what) = placeholder_kind(hash) {
        r.errors.push(cfg_err(
            path,
            format!("expected the hash of a block you trust, got a placeholder ({what})"),
        ));
    }
}

pub(crate) fn placeholder_kind(hash: &[u8]) -> Option<String> {
    let digits = hex::encode(hash);
    if digits.bytes().all(|b| b == b'0') {
        return Some("all zeros".into());
    }
    (1..=16)
        .filter(|p| digits.len().is_multiple_of(*p))
        .find(|&p| {
            digits
                .as_bytes()
                .chunks(p)
                .all(|c| c == &digits.as_bytes()[..p])
        })
        .map(|p| format!("{:?} repeated", &digits[..p]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "0x5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275";
    const HASH: &str = "0x88e96d4537bea4d9c05d12549907b32561d3bf31f45aae734cdc119f13406cb6";
    const COMET: &str = "6F1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F9";

    /// A configuration a start accepts: a destination (`alpha`), an
    /// origin-only chain anchored by the beacon chain (`beta`), a route
    /// group and a CometBFT origin; secrets in files under `dir`.
    fn base(dir: &std::path::Path) -> String {
        for (name, body) in [
            (
                "attester",
                "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
            ),
            ("queue", "a queue key of at least thirty-two bytes"),
            (
                "submitter",
                "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
            ),
            ("short", "too short"),
        ] {
            std::fs::write(dir.join(name), body).expect("write secret");
        }
        let d = dir.display();
        format!(
            r#"attester_key = {{ file = "{d}/attester" }}
queue_key = {{ file = "{d}/queue" }}
[redis]
url = "redis://127.0.0.1:6379"
[[chains]]
name = "alpha"
domain = 1000
chain_id = 31337
rpc_urls = ["http://127.0.0.1:8545"]
trust = "single_endpoint"
mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
inbox = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
submitter_key = {{ file = "{d}/submitter" }}
checkpoint = {{ number = 7, hash = "{HASH}" }}
[[chains]]
name = "beta"
domain = 2000
chain_id = 31338
rpc_urls = ["http://127.0.0.1:8546"]
mailbox = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
checkpoint = {{ number = 9, hash = "{HASH}" }}
[chains.beacon]
urls = ["http://127.0.0.1:5052"]
network = "sepolia"
trusted_root = "{ROOT}"
[[route_groups]]
name = "group"
domain = 9000
policy = "round_robin"
members = [{{ chain = "alpha" }}]
[[cometbft_origins]]
name = "cosmos"
domain = 7000
rpc_urls = ["http://127.0.0.1:26657"]
trusted_height = 5
trusted_hash = "{COMET}"
trusting_period_secs = 1209600
"#
        )
    }

    /// Where a mistake is caught.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum At {
        /// Loading refuses it (the hub does not start).
        Load,
        /// `config check` refuses it (a start would fail or trust a fake).
        Check,
        /// `config check` warns.
        Warn,
    }

    /// Real configuration mistakes, each with the one message it gets:
    /// the path with its dots, what was expected and what was found.
    #[test]
    fn each_config_mistake_gets_its_path_expected_and_got() {
        use At::*;
        let dir = tempfile::tempdir().expect("dir");
        let ok = base(dir.path());
        let c = Config::from_toml(&ok).expect("the base loads");
        let r = check(&c, true);
        assert!(r.errors.is_empty() && r.warnings.is_empty(), "{r:?}");
        assert_eq!(r.resolved.len(), 3, "{r:?}");
        let short_root = &ROOT[..ROOT.len() - 1];
        let ones = format!("0x{}", "1".repeat(64));
        let zeros = format!("0x{}", "0".repeat(64));
        let beef = format!("0x{}", "deadbeef".repeat(8));
        let cases: Vec<(&str, String, String, At, &str, String)> = vec![
            (
                "a trusted root one digit short (the issue's odd number of digits)",
                ROOT.into(),
                short_root.into(),
                Load,
                "chains[1].beacon.trusted_root",
                "expected 32 bytes as 0x + 64 hex digits, got 63 hex digits".into(),
            ),
            (
                "a role that does not exist (the issue's enum Role message)",
                "[redis]".into(),
                "role = \"relay\"\n[redis]".into(),
                Load,
                "role",
                "expected one of all, watcher, dispatcher, attester, got \"relay\"".into(),
            ),
            (
                "an unknown trust mode",
                "trust = \"single_endpoint\"".into(),
                "trust = \"relaxed\"".into(),
                Load,
                "chains[0].trust",
                "expected one of quorum, single_endpoint, got \"relaxed\"".into(),
            ),
            (
                "an unknown route policy",
                "round_robin".into(),
                "fastest".into(),
                Load,
                "route_groups[0].policy",
                "expected one of least_backlog, weighted, round_robin, sticky_sender, got \"fastest\"".into(),
            ),
            (
                "an address without 0x",
                "inbox = \"0xe7f1".into(),
                "inbox = \"e7f1".into(),
                Load,
                "chains[0].inbox",
                "expected 20 bytes as 0x + 40 hex digits, got no 0x prefix".into(),
            ),
            (
                "chain id 0",
                "chain_id = 31337".into(),
                "chain_id = 0".into(),
                Load,
                "chains[0].chain_id",
                "expected an EIP-155 chain id of at least 1, got 0".into(),
            ),
            (
                "entries dead-lettered at once",
                "[redis]".into(),
                "[dispatcher]\nmax_entry_age_ms = 0\n[redis]".into(),
                Load,
                "dispatcher.max_entry_age_ms",
                "expected at least 1, got 0".into(),
            ),
            (
                "a quorum size on a chain that trusts one endpoint",
                "trust = \"single_endpoint\"".into(),
                "trust = \"single_endpoint\"\nmin_agreeing_endpoints = 2".into(),
                Load,
                "chains[0].min_agreeing_endpoints",
                "expected only with trust = \"quorum\" and neither [chains.beacon] nor [chains.rollup], got it on a chain trusted as single_endpoint: remove the key".into(),
            ),
            (
                "a route group name that cannot be a label",
                "name = \"group\"".into(),
                "name = \"Group A\"".into(),
                Load,
                "route_groups[0].name",
                "expected [a-z0-9_-]{1,32}, got \"Group A\"".into(),
            ),
            (
                "an empty CA path",
                "[redis]".into(),
                "[tls]\nca_file = \"\"\n[redis]".into(),
                Load,
                "tls.ca_file",
                "expected the path of a PEM file, got an empty string (leave the key out for none)".into(),
            ),
            (
                "a fee bump written as the increase (the issue's +125% reading)",
                "checkpoint = { number = 7,".into(),
                "fee_bump_percent = 25\ncheckpoint = { number = 7,".into(),
                Load,
                "chains[0].replacement_fee_percent",
                "expected 110..=300, the replacement's fees in percent of the replaced transaction's (125 = +25%; nodes refuse under 110), got 25".into(),
            ),
            (
                "a destination without a submitter key",
                format!("submitter_key = {{ file = \"{}/submitter\" }}\n", dir.path().display()),
                String::new(),
                Load,
                "chains[0].submitter_key",
                "expected a submitter key with inbox (the chain is a destination: its deliveries need a paying account), got none".into(),
            ),
            (
                "a route group member that is an origin only",
                "members = [{ chain = \"alpha\" }]".into(),
                "members = [{ chain = \"beta\" }]".into(),
                Load,
                "route_groups[0].members[0].chain",
                "expected a destination chain (with inbox and submitter_key), got \"beta\", an origin only: give it inbox and submitter_key, or leave it out of the group".into(),
            ),
            (
                "an endpoint URL from a variable that is not set",
                "rpc_urls = [\"http://127.0.0.1:8546\"]".into(),
                "rpc_urls = [{ env = \"SY_CHECK_TEST_UNSET_RPC\" }]".into(),
                Load,
                "chains[1].rpc_urls[0]",
                "environment variable SY_CHECK_TEST_UNSET_RPC is not set".into(),
            ),
            (
                "a CometBFT hash one digit short",
                COMET.into(),
                COMET[1..].into(),
                Load,
                "cometbft_origins[0].trusted_hash",
                format!("expected 32 bytes of hex (64 hex digits), got {:?}", &COMET[1..]),
            ),
            (
                "no checkpoint (fatal at first start)",
                format!("checkpoint = {{ number = 7, hash = \"{HASH}\" }}\n"),
                String::new(),
                Check,
                "chains[0].checkpoint",
                "expected { number, hash } of a block you trust (the first start has no persisted state to resume and refuses to start without it), got none".into(),
            ),
            (
                "a placeholder checkpoint hash",
                format!("number = 7, hash = \"{HASH}\""),
                format!("number = 7, hash = \"{ones}\""),
                Check,
                "chains[0].checkpoint.hash",
                "expected the hash of a block you trust, got a placeholder (\"1\" repeated)".into(),
            ),
            (
                "an all-zero trusted root",
                ROOT.into(),
                zeros,
                Check,
                "chains[1].beacon.trusted_root",
                "expected the hash of a block you trust, got a placeholder (all zeros)".into(),
            ),
            (
                "a repeated-word checkpoint hash",
                format!("number = 9, hash = \"{HASH}\""),
                format!("number = 9, hash = \"{beef}\""),
                Check,
                "chains[1].checkpoint.hash",
                "expected the hash of a block you trust, got a placeholder (\"deadbeef\" repeated)".into(),
            ),
            (
                "a placeholder CometBFT trusted hash",
                COMET.into(),
                "AB".repeat(32),
                Check,
                "cometbft_origins[0].trusted_hash",
                "expected the hash of a block you trust, got a placeholder (\"ab\" repeated)".into(),
            ),
            (
                "a secret in a variable that is not set",
                format!("attester_key = {{ file = \"{}/attester\" }}", dir.path().display()),
                "attester_key = { env = \"SY_CHECK_TEST_UNSET_ATTESTER\" }".into(),
                Check,
                "attester_key",
                "environment variable SY_CHECK_TEST_UNSET_ATTESTER is not set".into(),
            ),
            (
                "a secret file that is missing",
                format!("{}/submitter", dir.path().display()),
                format!("{}/missing", dir.path().display()),
                Check,
                "chains[0].submitter_key",
                format!(
                    "cannot read {}/missing: No such file or directory (os error 2)",
                    dir.path().display()
                ),
            ),
            (
                "a queue key too short to be an HMAC key",
                format!("{}/queue", dir.path().display()),
                format!("{}/short", dir.path().display()),
                Check,
                "queue_key",
                "expected at least 32 bytes, got 9".into(),
            ),
            (
                "an accepted queue key (a rotation) too short",
                "[redis]".into(),
                format!(
                    "accepted_queue_keys = [{{ file = \"{}/short\" }}]\n[redis]",
                    dir.path().display()
                ),
                Check,
                "accepted_queue_keys[0]",
                "expected at least 32 bytes, got 9".into(),
            ),
            (
                "header-chain mode on Ethereum mainnet, by override",
                "chain_id = 31337".into(),
                "chain_id = 1\nallow_header_chain_on_public_network = true".into(),
                Warn,
                "chains[0].chain_id",
                "chain_id 1 is Ethereum mainnet, followed in header-chain mode (trust = \"single_endpoint\"): expected [chains.beacon] (the beacon light client proves its blocks), got endpoints trusted by one source, which can forge messages".into(),
            ),
            (
                "header-chain mode on a public rollup",
                "chain_id = 31337".into(),
                "chain_id = 8453".into(),
                Warn,
                "chains[0].chain_id",
                "chain_id 8453 is Base, followed in header-chain mode (trust = \"single_endpoint\"): expected a proof of its blocks ([chains.rollup] for a rollup settling on a chain the hub follows), got endpoints trusted by one source, which can forge messages".into(),
            ),
        ];
        for (what, from, to, at, path, reason) in cases {
            let text = ok.replacen(&from, &to, 1);
            assert_ne!(text, ok, "{what}: {from:?} is not in the base");
            let (got, kind) = match Config::from_toml(&text) {
                Err(e) => (e, Load),
                Ok(c) => {
                    let mut r = check(&c, true);
                    match (r.errors.pop(), r.warnings.pop()) {
                        (Some(e), _) => {
                            assert!(r.errors.is_empty(), "{what}: more than one error {r:?}");
                            (e, Check)
                        }
                        (None, Some(w)) => (w, Warn),
                        (None, None) => panic!("{what}: accepted"),
                    }
                }
            };
            assert_eq!(
                (kind, got.path.as_str(), got.reason.as_str()),
                (at, path, reason.as_str()),
                "{what}"
            );
        }
    }

    #[test]
    fn key_secrets_can_be_left_unread_where_they_are_not_mounted() {
        let dir = tempfile::tempdir().expect("dir");
        let text = base(dir.path()).replace(
            &format!("{}/attester", dir.path().display()),
            "/nonexistent/attester",
        );
        let c = Config::from_toml(&text).expect("loads");
        assert_eq!(check(&c, true).errors[0].path, "attester_key");
        let r = check(&c, false);
        assert!(r.errors.is_empty() && r.resolved.is_empty(), "{r:?}");
    }

    #[test]
    fn a_secret_value_is_never_in_a_finding() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("short"), "hunter2-secret").expect("write");
        let text = base(dir.path()).replace(
            &format!("{}/queue", dir.path().display()),
            &format!("{}/short", dir.path().display()),
        );
        let r = check(&Config::from_toml(&text).expect("loads"), true);
        assert_eq!(r.errors.len(), 1, "{r:?}");
        assert!(!format!("{r:?}").contains("hunter2"), "{r:?}");
    }

    #[test]
    fn placeholders_are_zeros_or_short_repeats_and_real_hashes_are_not() {
        let h = |s: &str| hex::decode(s.trim_start_matches("0x")).expect("hex");
        assert_eq!(placeholder_kind(&h(HASH)), None);
        assert_eq!(placeholder_kind(&h(ROOT)), None);
        assert_eq!(
            placeholder_kind(&h(&"0123456789abcdef".repeat(4))).as_deref(),
            Some("\"0123456789abcdef\" repeated")
        );
        assert_eq!(placeholder_kind(&[0; 32]).as_deref(), Some("all zeros"));
    }
}
