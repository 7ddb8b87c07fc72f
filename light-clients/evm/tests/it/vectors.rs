//! Locating and reading the shared vectors.

use std::path::PathBuf;

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

/// Parses a JSON file under the vectors directory.
pub(crate) fn json(relative: &str) -> serde_json::Value {
    let path = dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read vector file {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Decodes hex with or without `0x`, in either case.
pub(crate) fn hex_bytes(s: &str) -> Vec<u8> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(s).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}
