//! Serving the router: Prometheus's `--web.max-connections` (connections beyond it wait to be accepted),
//! `--web.read-timeout` (a connection that sends nothing for that long, mid-request or idle between requests, is
//! closed, as Go's server does when only its read timeout is set), `--web.route-prefix` and graceful shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How the listener treats connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeOptions {
    /// Connections served at once (0: no limit).
    pub max_connections: usize,
    /// How long a connection may send nothing while the server waits for it (`None`: forever).
    pub read_timeout: Option<Duration>,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, router, ServeOptions::default(), shutdown).await
}

/// [`serve`] with connection limits.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    opts: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let permits = match opts.max_connections {
        0 => None,
        n => Some(Arc::new(Semaphore::new(n))),
    };
    let listener = Limited { inner: listener, permits, read_timeout: opts.read_timeout };
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// Puts `router` under `prefix` (Prometheus's `--web.route-prefix`), with `/` redirecting there; a prefix of `/`
/// (or empty) leaves it as it is.
pub fn with_route_prefix(router: Router, prefix: &str) -> Router {
    let prefix = format!("/{}", prefix.trim_matches('/'));
    if prefix == "/" {
        return router;
    }
    let target = prefix.clone();
    Router::new()
        .route(
            "/",
            axum::routing::get(move || async move {
                (StatusCode::FOUND, [(header::LOCATION, target)]).into_response()
            }),
        )
        .nest(&prefix, router)
}

struct Limited {
    inner: TcpListener,
    permits: Option<Arc<Semaphore>>,
    read_timeout: Option<Duration>,
}

impl axum::serve::Listener for Limited {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        // The permit is taken before accepting, so waiting connections stay in the kernel's backlog.
        let permit = match &self.permits {
            Some(p) => p.clone().acquire_owned().await.ok(),
            None => None,
        };
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    let conn =
                        Conn { stream, _permit: permit, timeout: self.read_timeout, idle: None };
                    return (conn, addr);
                }
                // Out of file descriptors and the like: wait a little, as Go's server does.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// An accepted connection: holds its permit until closed and times out reads.
struct Conn {
    stream: TcpStream,
    _permit: Option<OwnedSemaphorePermit>,
    timeout: Option<Duration>,
    /// Running while a read waits.
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(r) => {
                this.idle = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let Some(t) = this.timeout else { return Poll::Pending };
                let idle = this.idle.get_or_insert_with(|| Box::pin(tokio::time::sleep(t)));
                match idle.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        this.idle = None;
                        Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "read timeout")))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(router: Router, opts: ServeOptions) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(serve_with(l, router, opts, std::future::pending()));
        addr
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    fn hello() -> Router {
        Router::new().route("/hello", axum::routing::get(|| async { "hi" }))
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_wait_for_a_free_one() {
        let addr = start(hello(), ServeOptions { max_connections: 1, read_timeout: None }).await;
        // The first connection holds the only permit while it is open.
        let mut first = TcpStream::connect(addr).await.unwrap();
        first.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 256];
        let n = first.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        let second = tokio::spawn(async move { get(addr, "/hello").await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!second.is_finished(), "the second connection was served beside the first");
        drop(first);
        let reply = tokio::time::timeout(Duration::from_secs(5), second).await.unwrap().unwrap();
        assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with("hi"), "{reply}");
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_after_the_read_timeout() {
        let opts =
            ServeOptions { max_connections: 0, read_timeout: Some(Duration::from_millis(300)) };
        let addr = start(hello(), opts).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        // Half a request, then silence.
        s.write_all(b"GET /hello HTTP/1.1\r\n").await.unwrap();
        let mut out = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        assert!(closed.is_ok(), "the server kept the silent connection open");
        // A client that keeps talking is served.
        assert!(get(addr, "/hello").await.ends_with("hi"));
    }

    #[tokio::test]
    async fn a_route_prefix_moves_every_route_and_redirects_the_root() {
        let addr = start(with_route_prefix(hello(), "/prom/"), ServeOptions::default()).await;
        assert!(get(addr, "/prom/hello").await.ends_with("hi"));
        assert!(get(addr, "/hello").await.starts_with("HTTP/1.1 404"));
        let root = get(addr, "/").await;
        assert!(root.starts_with("HTTP/1.1 302") && root.contains("location: /prom"), "{root}");
        let addr = start(with_route_prefix(hello(), "/"), ServeOptions::default()).await;
        assert!(get(addr, "/hello").await.ends_with("hi"));
    }
}
