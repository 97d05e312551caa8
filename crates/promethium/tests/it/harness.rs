//! Whole-process test harness: starts the real `promethium` binary (or a real peer such as Debian's Prometheus) on
//! a loopback port, waits until it is ready, talks plain HTTP to it and kills it on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound once, then released).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A running child process that is killed when dropped.
pub(crate) struct Proc {
    pub(crate) child: Child,
    pub(crate) addr: String,
    pub(crate) log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// Starts `bin args…` with stdout/stderr in `log`, expecting it to listen on `addr`.
    pub(crate) fn start(bin: &Path, args: &[String], addr: String, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
        Proc { child, addr, log }
    }

    /// Waits until `GET path` answers 200, or panics with the process log after `timeout`.
    pub(crate) fn wait_ready(&mut self, path: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("process exited with {status}:\n{}", self.log_text());
            }
            if let Ok((200, _)) = http(&self.addr, "GET", path, "") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("not ready after {timeout:?}:\n{}", self.log_text());
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        http(&self.addr, "GET", path, "").unwrap()
    }

    pub(crate) fn post(&self, path: &str, body: &str) -> (u16, String) {
        http(&self.addr, "POST", path, body).unwrap()
    }

    /// `GET path` parsed as JSON, asserting status 200.
    pub(crate) fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: bad JSON {e}: {body}"))
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns status and body (chunked bodies are de-chunked).
pub(crate) fn http(
    addr: &str,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let ctype =
        if body.is_empty() { "" } else { "Content-Type: application/x-www-form-urlencoded\r\n" };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{ctype}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body = if chunked { dechunk(rest) } else { rest.to_string() };
    Ok((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// Percent-encodes a query parameter value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub(crate) fn eventually<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Whether the real peers must be present: `PROMETHIUM_REQUIRE_PEERS=1`, which `.ci/run` sets after installing
/// them, turns every "peer not installed" skip into a failure.
pub(crate) fn peers_required() -> bool {
    std::env::var_os("PROMETHIUM_REQUIRE_PEERS").is_some_and(|v| v == "1")
}

/// Reports that a test cannot run (or compare) because `what` is missing: a notice written to stderr past
/// libtest's capture, so it shows even for a passing test, or a failure when the peers are required.
pub(crate) fn missing_peer(what: &str) {
    assert!(!peers_required(), "{what} missing, and PROMETHIUM_REQUIRE_PEERS=1 requires it");
    // Straight to the process's stderr: libtest captures `eprintln!` as well as `println!` for passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "notice: skipping: {what} missing (PROMETHIUM_REQUIRE_PEERS=1 makes this a failure)"
    );
}

/// The path of a system binary if it is installed.
/// Starts Debian's node-exporter `bin` on a free loopback port (logging to `dir/node.log`) and waits until it
/// serves `/metrics`; returns the process and its address.
pub(crate) fn start_node_exporter(bin: &Path, dir: &Path) -> (Proc, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut p = Proc::start(
        bin,
        &[format!("--web.listen-address={addr}"), "--collector.textfile.directory=".into()],
        addr.clone(),
        dir.join("node.log"),
    );
    p.wait_ready("/metrics", Duration::from_secs(20));
    (p, addr)
}

pub(crate) fn system_bin(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/local/bin", "/usr/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Serves `n` series `m{i="…"}` on `listener` forever; the value of series `i` at scrape number `k` (from 1) is
/// `value(k, i)`.
pub(crate) fn serve_series(
    listener: TcpListener,
    n: usize,
    value: impl Fn(u64, usize) -> String + Send + 'static,
) {
    use std::io::BufRead;
    std::thread::spawn(move || {
        let mut scrapes = 0u64;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            scrapes += 1;
            let mut body = String::with_capacity(n * 24);
            for i in 0..n {
                body.push_str(&format!("m{{i=\"{i}\"}} {}\n", value(scrapes, i)));
            }
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
}
