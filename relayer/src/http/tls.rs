//! HTTPS for a listener of its own (an attester's `attestation.listen`):
//! TLS terminated in the process with rustls, and with a client CA, mutual
//! TLS, where a client without a certificate that CA issued never gets to
//! send a request.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::{debug, warn};

/// Handshakes in progress at once: past it, no connection is accepted
/// until one ends (a client opening connections and never finishing a
/// handshake holds at most this many sockets, for at most the timeout).
const MAX_HANDSHAKES: usize = 256;
/// How long a client has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

type Handshake = Pin<Box<dyn Future<Output = Option<(TlsStream<TcpStream>, SocketAddr)>> + Send>>;

/// A TCP listener whose connections are TLS-terminated, for `axum::serve`.
/// Handshakes run side by side, so one slow or hostile client does not
/// hold the others up; one that fails (no client certificate, one from
/// another CA, plain HTTP) drops that connection and the listener goes on.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: FuturesUnordered<Handshake>,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .field("handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Over `tcp`, with `config`.
    pub fn new(tcp: TcpListener, config: rustls::ServerConfig) -> Self {
        Self {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            handshakes: FuturesUnordered::new(),
        }
    }

    fn start(&self, tcp: TcpStream, peer: SocketAddr) -> Handshake {
        let acceptor = self.acceptor.clone();
        Box::pin(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => Some((tls, peer)),
                // The client's failure, not the listener's: a debug line
                // (a scanner must not fill the log), and the dispatcher
                // sees its own side of it as "unreachable".
                Ok(Err(e)) => {
                    debug!(%peer, err = %e, "TLS handshake refused");
                    None
                }
                Err(_) => {
                    debug!(%peer, "TLS handshake timed out");
                    None
                }
            }
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_HANDSHAKES;
            tokio::select! {
                accepted = self.tcp.accept(), if room => match accepted {
                    Ok((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        let h = self.start(tcp, peer);
                        self.handshakes.push(h);
                    }
                    // Out of descriptors, say: accepting again at once would
                    // spin.
                    Err(e) => {
                        warn!(err = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(done) = self.handshakes.next(), if !self.handshakes.is_empty() => {
                    if let Some(ok) = done {
                        return ok;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
