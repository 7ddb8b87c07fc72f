//! Locating and reading the shared vectors.

use std::path::PathBuf;

use switchyard_lc_rollup::{Bundle, RollupKind};

/// The vectors directory: `$SWITCHYARD_VECTORS`, else `shared/vectors`
/// beside the repository. A missing directory fails the test: a vector run
/// that silently skips proves nothing.
pub(crate) fn dir() -> PathBuf {
    let dir = std::env::var_os("SWITCHYARD_VECTORS").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/vectors"
            ))
        },
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "vectors directory {} not found: set SWITCHYARD_VECTORS to the shared/vectors \
         directory (see shared/vectors/SOURCES.md)",
        dir.display()
    );
    dir
}

/// The text of a file under `rip7755/contracts/test/data/`.
pub(crate) fn text(name: &str) -> String {
    let path = dir().join("rip7755/contracts/test/data").join(name);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read vector file {}: {e}", path.display()))
}

/// A vector file parsed as a bundle of `kind`.
pub(crate) fn bundle(kind: RollupKind, name: &str) -> Bundle {
    Bundle::from_json(kind, &text(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}
