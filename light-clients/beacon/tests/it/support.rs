use std::path::PathBuf;

/// `<repo root>/../shared/vectors`, where the repo root is the first
/// ancestor of this crate holding the workspace `Cargo.lock`.
pub(crate) fn vectors_dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .ancestors()
        .find(|p| p.join("Cargo.lock").is_file())
        .expect("the crate lives inside the workspace, which has a Cargo.lock");
    root.join("../shared/vectors")
}

pub(crate) fn read(rel: &str) -> String {
    let path = vectors_dir().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
