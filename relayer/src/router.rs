//! Routing: which lane a verified message goes to. Today a destination domain
//! maps to that chain's lane; route groups (one logical domain served by
//! several chains) plug in here.

use std::collections::BTreeMap;

use switchyard_types::Domain;

use crate::config::Config;

/// Where a destination domain's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The lane (destination domain) to append to.
    pub lane: Domain,
    /// The destination chain's name, for metrics labels.
    pub name: String,
}

/// Destination domain → route.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: BTreeMap<Domain, Route>,
}

impl Router {
    /// Every configured chain is a destination of its own domain.
    pub fn from_config(cfg: &Config) -> Self {
        let routes = cfg
            .chains
            .iter()
            .map(|c| {
                (
                    c.domain,
                    Route {
                        lane: c.domain,
                        name: c.name.clone(),
                    },
                )
            })
            .collect();
        Self { routes }
    }

    /// The route of `destination`, or `None` when no configured chain serves
    /// it (the message is rejected, never dropped silently).
    pub fn route(&self, destination: Domain) -> Option<&Route> {
        self.routes.get(&destination)
    }
}
