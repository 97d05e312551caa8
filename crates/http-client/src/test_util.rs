//! Test support for crates that make HTTP clients: a certificate authority with server and client certificates
//! made by the `openssl` command, and a TLS HTTP/1.1 server on loopback that answers every request with one body
//! and records what it received.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use parking_lot::Mutex;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A fresh certificate authority in a temporary directory, with these files (PEM, keys unencrypted PKCS#8):
/// `ca.crt`/`ca.key`; `server.crt`/`server.key` for `localhost` and `127.0.0.1`; `other.crt`/`other.key` for
/// `other.example` only; `client.crt`/`client.key`, a client certificate.
#[derive(Debug)]
pub struct Pki {
    dir: tempfile::TempDir,
}

const OPENSSL: &str = "/usr/bin/openssl";

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new(OPENSSL).current_dir(dir).args(args).output().expect("run openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Pki {
    /// Makes the files, or returns None (after saying so on stderr) when the `openssl` command is missing.
    pub fn generate() -> Option<Pki> {
        if !Path::new(OPENSSL).exists() {
            eprintln!("notice: {OPENSSL} not found; skipping the TLS test");
            return None;
        }
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let d = dir.path();
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
        let mut args = vec!["req", "-x509", "-days", "2", "-subj", "/CN=Promethium test CA"];
        args.extend(ec);
        args.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        openssl(d, &args);
        let leaves = [
            ("server", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
            ("other", "subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n"),
            ("client", "subjectAltName=DNS:client\nextendedKeyUsage=clientAuth\n"),
        ];
        for (name, ext) in leaves {
            let ext_file = format!("{name}.ext");
            std::fs::File::create(d.join(&ext_file))
                .and_then(|mut f| {
                    f.write_all(
                        format!("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n{ext}")
                            .as_bytes(),
                    )
                })
                .expect("write an extension file");
            let (key, csr, crt) =
                (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"));
            let subj = format!("/CN={name}");
            let mut args = vec!["req", "-subj", &subj, "-keyout", &key, "-out", &csr];
            args.extend(ec);
            openssl(d, &args);
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-days",
                    "2",
                    "-in",
                    &csr,
                    "-CA",
                    "ca.crt",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-extfile",
                    &ext_file,
                    "-out",
                    &crt,
                ],
            );
        }
        Some(Pki { dir })
    }

    /// The path of one of the files.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The path of one of the files, as a string for configuration.
    pub fn file(&self, file: &str) -> String {
        self.path(file).to_string_lossy().into_owned()
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// A running TLS server.
#[derive(Debug, Clone)]
pub struct TlsServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Requests received, in order.
    pub requests: Arc<Mutex<Vec<Request>>>,
    /// Handshakes that failed, with rustls's reason.
    pub handshake_errors: Arc<Mutex<Vec<String>>>,
}

fn read_pem(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read a test certificate")
}

/// Serves HTTPS on 127.0.0.1 with certificate `cert` and key `key`, answering every request with status 200 and
/// `body` (`text/plain; version=0.0.4`); with `client_ca`, client certificates signed by it are required.
pub async fn serve(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
    body: &'static str,
) -> TlsServer {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read_pem(cert))
        .collect::<Result<_, _>>()
        .expect("server certificate");
    let key = PrivateKeyDer::from_pem_slice(&read_pem(key)).expect("server key");
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions");
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read_pem(ca)) {
                roots.add(c.expect("client CA")).expect("add client CA");
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(v)
        }
        None => builder.with_no_client_auth(),
    };
    let cfg = builder.with_single_cert(chain, key).expect("server certificate and key");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let server = TlsServer {
        addr: listener.local_addr().expect("local address"),
        requests: Arc::default(),
        handshake_errors: Arc::default(),
    };
    let s = server.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, s) = (acceptor.clone(), s.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        if let Some(req) = read_request(&mut tls).await {
                            s.requests.lock().push(req);
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = tls.write_all(resp.as_bytes()).await;
                            let _ = tls.shutdown().await;
                        }
                    }
                    Err(e) => s.handshake_errors.lock().push(e.to_string()),
                }
            });
        }
    });
    server
}

/// Reads one HTTP/1.1 request (with a `Content-Length` body, if any); None if the peer went away.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(s: &mut S) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Request { method, path, headers, body })
}
