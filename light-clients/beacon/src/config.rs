//! Presets, fork schedules and the generalized indices that depend on them.

use alloy_primitives::{B256, b256};

/// Consensus forks that change what the light client verifies.
///
/// Fulu changes no light-client container; it is listed because its fork
/// version signs every sync aggregate after its epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Fork {
    /// Genesis fork (no sync committees).
    Phase0,
    /// Sync committees and the light-client protocol.
    Altair,
    /// The merge.
    Bellatrix,
    /// Light-client headers gain the execution payload header.
    Capella,
    /// Execution payload header gains blob gas fields.
    Deneb,
    /// Beacon state grows: state gindices get one more level.
    Electra,
    /// PeerDAS.
    Fulu,
}

/// `SYNC_COMMITTEE_BRANCH` / `FINALITY_BRANCH` generalized indices for a fork.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateGindices {
    /// `FINALIZED_ROOT_GINDEX`.
    pub finalized_root: u64,
    /// `CURRENT_SYNC_COMMITTEE_GINDEX`.
    pub current_sync_committee: u64,
    /// `NEXT_SYNC_COMMITTEE_GINDEX`.
    pub next_sync_committee: u64,
}

impl Fork {
    /// Every fork, in activation order.
    pub const ALL: [Fork; 7] = [
        Fork::Phase0,
        Fork::Altair,
        Fork::Bellatrix,
        Fork::Capella,
        Fork::Deneb,
        Fork::Electra,
        Fork::Fulu,
    ];

    /// The fork's name as in the beacon API's `version` field and in
    /// consensus-spec configs (`altair`, ..., `electra`, `fulu`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Phase0 => "phase0",
            Self::Altair => "altair",
            Self::Bellatrix => "bellatrix",
            Self::Capella => "capella",
            Self::Deneb => "deneb",
            Self::Electra => "electra",
            Self::Fulu => "fulu",
        }
    }

    /// The fork named `name` (as [`Fork::name`] spells it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// State generalized indices of the light-client proofs in this fork
    /// (Altair sync-protocol and its Electra amendment).
    pub fn state_gindices(self) -> StateGindices {
        if self >= Self::Electra {
            StateGindices {
                finalized_root: 169,
                current_sync_committee: 86,
                next_sync_committee: 87,
            }
        } else {
            StateGindices {
                finalized_root: 105,
                current_sync_committee: 54,
                next_sync_committee: 55,
            }
        }
    }
}

/// `EXECUTION_PAYLOAD_GINDEX` in `BeaconBlockBody` from Capella on.
pub const EXECUTION_PAYLOAD_GINDEX: u64 = 25;

/// `MIN_SYNC_COMMITTEE_PARTICIPANTS`.
pub const MIN_SYNC_COMMITTEE_PARTICIPANTS: usize = 1;

/// `DOMAIN_SYNC_COMMITTEE`.
pub const DOMAIN_SYNC_COMMITTEE: [u8; 4] = [7, 0, 0, 0];

/// The preset values the light client depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// `SLOTS_PER_EPOCH`.
    pub slots_per_epoch: u64,
    /// `EPOCHS_PER_SYNC_COMMITTEE_PERIOD`.
    pub epochs_per_sync_committee_period: u64,
    /// `SYNC_COMMITTEE_SIZE`.
    pub sync_committee_size: usize,
}

impl Preset {
    /// The mainnet preset.
    pub const MAINNET: Self = Self {
        slots_per_epoch: 32,
        epochs_per_sync_committee_period: 256,
        sync_committee_size: 512,
    };
    /// The minimal preset used by consensus-spec-tests.
    pub const MINIMAL: Self = Self {
        slots_per_epoch: 8,
        epochs_per_sync_committee_period: 8,
        sync_committee_size: 32,
    };

    /// A preset by its `PRESET_BASE` name: `mainnet` or `minimal`.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "mainnet" => Some(Self::MAINNET),
            "minimal" => Some(Self::MINIMAL),
            _ => None,
        }
    }
}

/// One entry of a fork schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForkEntry {
    /// The fork.
    pub fork: Fork,
    /// Its fork version.
    pub version: [u8; 4],
    /// First epoch of the fork.
    pub epoch: u64,
}

/// Everything chain-specific the light client needs, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSpec {
    /// Preset sizes.
    pub preset: Preset,
    /// `genesis_validators_root`, part of every signing domain.
    pub genesis_validators_root: B256,
    /// Forks in activation order, starting with Phase0 at epoch 0.
    /// Forks not scheduled are simply absent.
    pub forks: Vec<ForkEntry>,
}

impl ChainSpec {
    /// Ethereum mainnet.
    pub fn mainnet() -> Self {
        Self::network(
            b256!("4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"),
            [
                ([0, 0, 0, 0], 0),
                ([1, 0, 0, 0], 74_240),
                ([2, 0, 0, 0], 144_896),
                ([3, 0, 0, 0], 194_048),
                ([4, 0, 0, 0], 269_568),
                ([5, 0, 0, 0], 364_032),
                ([6, 0, 0, 0], 411_392),
            ],
        )
    }

    /// Sepolia (values from eth-clients/sepolia's config.yaml).
    pub fn sepolia() -> Self {
        Self::network(
            b256!("d8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078"),
            [
                ([0x90, 0, 0, 0x69], 0),
                ([0x90, 0, 0, 0x70], 50),
                ([0x90, 0, 0, 0x71], 100),
                ([0x90, 0, 0, 0x72], 56_832),
                ([0x90, 0, 0, 0x73], 132_608),
                ([0x90, 0, 0, 0x74], 222_464),
                ([0x90, 0, 0, 0x75], 272_640),
            ],
        )
    }

    /// Holesky (values from eth-clients/holesky's config.yaml).
    pub fn holesky() -> Self {
        Self::network(
            b256!("9143aa7c615a7f7115e2b6aac319c03529df8242ae705fba9df39b79c59fa8b1"),
            [
                ([0x01, 0x01, 0x70, 0], 0),
                ([0x02, 0x01, 0x70, 0], 0),
                ([0x03, 0x01, 0x70, 0], 0),
                ([0x04, 0x01, 0x70, 0], 256),
                ([0x05, 0x01, 0x70, 0], 29_696),
                ([0x06, 0x01, 0x70, 0], 115_968),
                ([0x07, 0x01, 0x70, 0], 165_120),
            ],
        )
    }

    /// A mainnet-preset network scheduling Phase0 to Fulu with these
    /// (fork version, activation epoch) pairs, in fork order.
    fn network(genesis_validators_root: B256, schedule: [([u8; 4], u64); 7]) -> Self {
        const FORKS: [Fork; 7] = [
            Fork::Phase0,
            Fork::Altair,
            Fork::Bellatrix,
            Fork::Capella,
            Fork::Deneb,
            Fork::Electra,
            Fork::Fulu,
        ];
        Self {
            preset: Preset::MAINNET,
            genesis_validators_root,
            forks: FORKS
                .into_iter()
                .zip(schedule)
                .map(|(fork, (version, epoch))| ForkEntry {
                    fork,
                    version,
                    epoch,
                })
                .collect(),
        }
    }

    /// A built-in network by name: `mainnet`, `sepolia` or `holesky`.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "mainnet" => Some(Self::mainnet()),
            "sepolia" => Some(Self::sepolia()),
            "holesky" => Some(Self::holesky()),
            _ => None,
        }
    }

    /// The domain sync committees sign with during `fork`
    /// (`compute_domain(DOMAIN_SYNC_COMMITTEE, version, genesis_validators_root)`).
    pub fn sync_committee_domain(&self, fork: Fork) -> Option<B256> {
        let entry = self.forks.iter().find(|f| f.fork == fork)?;
        Some(crate::merkle::compute_domain(
            DOMAIN_SYNC_COMMITTEE,
            entry.version,
            self.genesis_validators_root,
        ))
    }

    /// `compute_epoch_at_slot`.
    pub fn epoch_at_slot(&self, slot: u64) -> u64 {
        slot / self.preset.slots_per_epoch
    }

    /// `compute_sync_committee_period_at_slot`.
    pub fn period_at_slot(&self, slot: u64) -> u64 {
        self.epoch_at_slot(slot) / self.preset.epochs_per_sync_committee_period
    }

    /// Slots after which a stuck store may force its best update
    /// (`UPDATE_TIMEOUT`).
    pub fn update_timeout(&self) -> u64 {
        self.preset.slots_per_epoch * self.preset.epochs_per_sync_committee_period
    }

    fn entry_at_epoch(&self, epoch: u64) -> ForkEntry {
        // The schedule is sorted by epoch; a spec without entries is treated
        // as permanently in Phase0 with the zero version.
        self.forks
            .iter()
            .rev()
            .find(|f| f.epoch <= epoch)
            .copied()
            .unwrap_or(ForkEntry {
                fork: Fork::Phase0,
                version: [0; 4],
                epoch: 0,
            })
    }

    /// The fork active at `epoch`.
    pub fn fork_at_epoch(&self, epoch: u64) -> Fork {
        self.entry_at_epoch(epoch).fork
    }

    /// The fork active at `slot`.
    pub fn fork_at_slot(&self, slot: u64) -> Fork {
        self.fork_at_epoch(self.epoch_at_slot(slot))
    }

    /// `compute_fork_digest` (pre-Fulu form) of a scheduled fork: how the
    /// beacon API and spec tests label which fork an object belongs to.
    pub fn fork_digest(&self, fork: Fork) -> Option<[u8; 4]> {
        let entry = self.forks.iter().find(|f| f.fork == fork)?;
        let root = crate::merkle::fork_data_root(entry.version, self.genesis_validators_root);
        Some([root[0], root[1], root[2], root[3]])
    }

    /// The scheduled fork whose (pre-Fulu) fork digest is `digest`.
    pub fn fork_of_digest(&self, digest: [u8; 4]) -> Option<Fork> {
        self.forks
            .iter()
            .map(|f| f.fork)
            .find(|f| self.fork_digest(*f) == Some(digest))
    }

    /// `compute_fork_version(epoch)`.
    pub fn fork_version_at_epoch(&self, epoch: u64) -> [u8; 4] {
        self.entry_at_epoch(epoch).version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_fork_boundaries() {
        let spec = ChainSpec::mainnet();
        assert_eq!(spec.fork_at_epoch(194_047), Fork::Bellatrix);
        assert_eq!(spec.fork_at_epoch(194_048), Fork::Capella);
        assert_eq!(spec.fork_version_at_epoch(364_032), [5, 0, 0, 0]);
        assert_eq!(spec.period_at_slot(7_069_376), 862);
    }

    #[test]
    fn electra_moves_state_proofs_one_level_down() {
        let d = Fork::Deneb.state_gindices();
        let e = Fork::Electra.state_gindices();
        assert_eq!(
            (
                d.finalized_root,
                d.current_sync_committee,
                d.next_sync_committee
            ),
            (105, 54, 55)
        );
        assert_eq!(
            (
                e.finalized_root,
                e.current_sync_committee,
                e.next_sync_committee
            ),
            (169, 86, 87)
        );
        assert_eq!(Fork::Fulu.state_gindices(), e);
    }

    #[test]
    fn network_fork_data_gives_the_published_digests_and_domains() {
        // Fork digests as seen in gossip topics (`/eth2/<digest>/...`) and
        // sync-committee domains as published by other light clients:
        // independent checks of each network's versions and genesis root.
        let digest = |s: &ChainSpec, f| s.fork_digest(f).map(hex_of);
        let m = ChainSpec::mainnet();
        assert_eq!(digest(&m, Fork::Capella).as_deref(), Some("bba4da96"));
        assert_eq!(digest(&m, Fork::Deneb).as_deref(), Some("6a95a1a9"));
        let s = ChainSpec::sepolia();
        assert_eq!(digest(&s, Fork::Capella).as_deref(), Some("47eb72b3"));
        assert_eq!(digest(&s, Fork::Deneb).as_deref(), Some("d31f6191"));
        let domain = |s: &ChainSpec, f| s.sync_committee_domain(f).map(|d| hex_of(d.0));
        assert_eq!(
            domain(&s, Fork::Deneb).as_deref(),
            Some("07000000d31f6191ca65c836e170318c55fcf34b7e308f8fbca8e663bf565808")
        );
        assert_eq!(
            domain(&s, Fork::Capella).as_deref(),
            Some("0700000047eb72b3be36f08feffcaba760f0a2ed78c1a85f0654941a0d19d0fa")
        );
        assert_eq!(
            domain(&s, Fork::Electra).as_deref(),
            Some("0700000014045b5a1d8da091c2ee9e635b64eb2f9c81e0683f21dd0491e95aaa")
        );
        for name in ["mainnet", "sepolia", "holesky"] {
            let spec = ChainSpec::by_name(name).expect(name);
            // Scheduled in order, from Phase0 at epoch 0.
            assert_eq!(spec.forks[0].fork, Fork::Phase0);
            assert_eq!(spec.forks[0].epoch, 0);
            assert!(spec.forks.windows(2).all(|w| w[0].epoch <= w[1].epoch));
            // Every fork has its own digest, so objects are never confused.
            let mut digests: Vec<_> = spec
                .forks
                .iter()
                .map(|f| spec.fork_digest(f.fork))
                .collect();
            digests.dedup();
            assert_eq!(digests.len(), spec.forks.len(), "{name}");
        }
        assert!(ChainSpec::by_name("goerli").is_none());
    }

    #[test]
    fn forks_and_presets_are_found_by_their_config_names() {
        for f in Fork::ALL {
            assert_eq!(Fork::from_name(f.name()), Some(f));
        }
        assert_eq!(Fork::from_name("Electra"), None);
        assert_eq!(Preset::by_name("minimal"), Some(Preset::MINIMAL));
        assert_eq!(Preset::by_name("mainnet"), Some(Preset::MAINNET));
        assert_eq!(Preset::by_name("gnosis"), None);
    }

    fn hex_of<const N: usize>(b: [u8; N]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
