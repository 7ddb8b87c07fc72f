//! Values from outside that do not parse: what they are, what was expected
//! and what came. Imported by the configuration, the API and the CLI; it
//! imports nothing of the crate.

/// A value given by an operator, a client or a caller that does not parse:
/// what it is, what was expected and what came (quoted, shortened).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: expected {expected}, got {got}")]
pub struct InputError {
    /// What the value is (`message id`, `cursor`, `--part`).
    pub what: String,
    /// What a valid value looks like.
    pub expected: String,
    /// What came, quoted.
    pub got: String,
}

impl InputError {
    /// `text` (quoted, at most 120 characters shown) is not a valid `what`.
    pub fn new(what: impl Into<String>, expected: impl Into<String>, text: &str) -> Self {
        let shown: String = text.chars().take(120).collect();
        Self {
            what: what.into(),
            expected: expected.into(),
            got: format!("{shown:?}"),
        }
    }
}
