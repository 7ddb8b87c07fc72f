//! Serving on a loopback port: a fake node's routes, or the hub's own HTTP
//! surface over a store (without the rest of a hub).

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;

/// Serves `app` on a free loopback port until the test ends; its base URL.
pub(crate) async fn router(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port binds");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// Serves the hub's HTTP surface (status API, admin API, metrics) over
/// `state` on a free loopback port; its base URL and what stops it.
pub(crate) async fn hub_http(state: switchyard::http::AppState) -> (String, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port binds");
    let addr = listener.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move { switchyard::http::serve(listener, state, s).await });
    (format!("http://{addr}"), stop)
}
