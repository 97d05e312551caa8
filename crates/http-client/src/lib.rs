//! HTTP clients made from Prometheus's HTTP client settings (`tls_config`, proxies, `http_headers`,
//! `follow_redirects`, `enable_http2`), shared by scraping and the notifier.
//!
//! [`build`] turns [`ClientSettings`] into a `reqwest::Client` over a rustls configuration made here (`tls.rs`),
//! reading every file the settings name. [`Client`] keeps the result and builds again when one of those files
//! changes (CA, client certificate and key, header value files), so rotated certificates are picked up by the next
//! request without a configuration reload; an error is kept and returned, unchanged, until a file changes.
//!
//! Credentials that go into request headers (`basic_auth`, `authorization`) are not handled here: callers resolve
//! them per request with `config`'s helpers. `oauth2` is not supported yet.

mod error;
mod headers;
mod tls;

#[cfg(feature = "test-util")]
pub mod test_util;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value as Any;

pub use error::{Error, Origin};

/// The HTTP client settings of one configuration section (a scrape config, an Alertmanager set). The default is
/// Prometheus's: redirects followed, HTTP/2 offered, gzip accepted, no proxy, system trust anchors.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSettings {
    /// `tls_config`.
    pub tls: config::TlsConfig,
    /// Follow up to 10 redirects.
    pub follow_redirects: bool,
    /// Offer HTTP/2 (by ALPN over TLS); HTTP/1.1 only when false.
    pub enable_http2: bool,
    /// `proxy_url`: every request goes through this proxy.
    pub proxy_url: Option<String>,
    /// `no_proxy`: comma-separated hosts, domains and CIDR ranges reached directly despite `proxy_url`.
    pub no_proxy: Option<String>,
    /// `proxy_from_environment`: use `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY`. Without it and without a
    /// `proxy_url`, no proxy is used whatever the environment says.
    pub proxy_from_environment: bool,
    /// `proxy_connect_header`: header name → values, sent to the proxy with `CONNECT`.
    pub proxy_connect_header: Option<Any>,
    /// `http_headers`: header name → `{values, secrets, files}`, sent with every request unless the caller sets
    /// the same header itself.
    pub http_headers: Option<Any>,
    /// Whole-request timeout (none when unset; scrapes set their own per request).
    pub timeout: Option<Duration>,
    /// The `User-Agent` sent unless a request sets its own.
    pub user_agent: Option<String>,
    /// Ask for and decode gzip bodies.
    pub gzip: bool,
    /// Idle connections kept per host (reqwest's default when unset).
    pub max_idle_per_host: Option<usize>,
}

impl Default for ClientSettings {
    fn default() -> ClientSettings {
        ClientSettings {
            tls: config::TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
            proxy_url: None,
            no_proxy: None,
            proxy_from_environment: false,
            proxy_connect_header: None,
            http_headers: None,
            timeout: None,
            user_agent: None,
            gzip: true,
            max_idle_per_host: None,
        }
    }
}

impl ClientSettings {
    /// The client settings of a scrape config (`gzip` from `enable_compression`).
    pub fn from_scrape_config(c: &config::ScrapeConfig) -> ClientSettings {
        ClientSettings {
            tls: c.tls_config.clone(),
            follow_redirects: c.follow_redirects,
            enable_http2: c.enable_http2,
            proxy_url: c.proxy_url.clone(),
            no_proxy: c.no_proxy.clone(),
            proxy_from_environment: c.proxy_from_environment,
            proxy_connect_header: c.proxy_connect_header.clone(),
            http_headers: c.http_headers.clone(),
            timeout: None,
            user_agent: None,
            gzip: c.enable_compression,
            max_idle_per_host: None,
        }
    }

    /// The client settings of an Alertmanager set (`timeout` is the set's).
    pub fn from_alertmanager_config(c: &config::AlertmanagerConfig) -> ClientSettings {
        ClientSettings {
            tls: c.tls_config.clone(),
            follow_redirects: c.follow_redirects,
            enable_http2: c.enable_http2,
            proxy_url: c.proxy_url.clone(),
            no_proxy: c.no_proxy.clone(),
            proxy_from_environment: c.proxy_from_environment,
            proxy_connect_header: c.proxy_connect_header.clone(),
            http_headers: c.http_headers.clone(),
            timeout: Some(c.timeout.to_std()),
            user_agent: None,
            gzip: true,
            max_idle_per_host: None,
        }
    }

    /// Every file the settings read, in a fixed order.
    fn files(&self) -> Vec<String> {
        let mut out: Vec<String> = tls::files(&self.tls).map(str::to_string).collect();
        out.extend(headers::files(self.http_headers.as_ref()));
        out
    }
}

/// Builds a client from `s`, reading the files it names now.
pub fn build(s: &ClientSettings) -> Result<reqwest::Client, Error> {
    let alpn: Vec<Vec<u8>> = if s.enable_http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    let tls = tls::client_config(&s.tls, alpn)?;
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(if s.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        })
        .default_headers(headers::http_headers(s.http_headers.as_ref())?);
    if !s.enable_http2 {
        b = b.http1_only();
    }
    if !s.gzip {
        b = b.no_gzip();
    }
    if let Some(t) = s.timeout {
        b = b.timeout(t);
    }
    if let Some(ua) = &s.user_agent {
        b = b.user_agent(ua);
    }
    if let Some(n) = s.max_idle_per_host {
        b = b.pool_max_idle_per_host(n);
    }
    b = proxy(b, s)?;
    b.build().map_err(|e| Error::Build(error_chain(&e)))
}

fn proxy(b: reqwest::ClientBuilder, s: &ClientSettings) -> Result<reqwest::ClientBuilder, Error> {
    let url = s.proxy_url.as_deref().filter(|u| !u.is_empty());
    let no_proxy = s.no_proxy.as_deref().filter(|n| !n.is_empty());
    let connect = headers::proxy_connect_headers(s.proxy_connect_header.as_ref())?;
    match url {
        Some(_) if s.proxy_from_environment => Err(Error::Invalid(
            "if proxy_from_environment is configured, proxy_url must not be configured",
        )),
        Some(url) => {
            let p = reqwest::Proxy::all(url)
                .map_err(|e| Error::Proxy { url: url.to_string(), message: error_chain(&e) })?
                .no_proxy(no_proxy.and_then(reqwest::NoProxy::from_string))
                .headers(connect);
            Ok(b.proxy(p))
        }
        None if no_proxy.is_some() => {
            Err(Error::Invalid("if no_proxy is configured, proxy_url must also be configured"))
        }
        // reqwest reads the environment's proxies unless told not to.
        None if s.proxy_from_environment => Ok(b),
        None if !connect.is_empty() => Err(Error::Invalid(
            "if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured",
        )),
        None => Ok(b.no_proxy()),
    }
}

/// An error's message followed by its sources', joined with ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let m = s.to_string();
        if !msg.ends_with(&m) {
            msg.push_str(": ");
            msg.push_str(&m);
        }
        src = s.source();
    }
    msg
}

/// The content of each file, None for one that cannot be read. The files are small (certificates, keys, header
/// values), so comparing contents is cheap and, unlike modification times, never misses a quick rewrite.
type Stamp = Option<Vec<u8>>;

fn stamps(files: &[String]) -> Vec<Stamp> {
    files.iter().map(|f| std::fs::read(f).ok()).collect()
}

struct State {
    stamps: Vec<Stamp>,
    built: Result<reqwest::Client, Error>,
}

/// A client for one configuration section that follows the files its settings name: [`Client::get`] builds a
/// new `reqwest::Client` when one of them changed since the last build. Clones share the state.
#[derive(Clone)]
pub struct Client {
    settings: Arc<ClientSettings>,
    files: Arc<[String]>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("files", &self.files).finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `settings`, built now; a failure is kept and returned by [`Client::get`].
    pub fn new(settings: ClientSettings) -> Client {
        let files: Arc<[String]> = settings.files().into();
        let stamps = stamps(&files);
        let built = build(&settings);
        Client {
            settings: Arc::new(settings),
            files,
            state: Arc::new(Mutex::new(State { stamps, built })),
        }
    }

    /// The settings the client was made from.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// The current `reqwest::Client`, rebuilt first if the content of a file changed (the files are read on every
    /// call). Connections of a replaced client are not reused.
    pub fn get(&self) -> Result<reqwest::Client, Error> {
        let mut st = self.state.lock();
        if !self.files.is_empty() {
            let now = stamps(&self.files);
            if now != st.stamps {
                st.stamps = now;
                st.built = build(&self.settings);
            }
        }
        st.built.clone()
    }
}
