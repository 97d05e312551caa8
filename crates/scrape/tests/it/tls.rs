//! `tls_config` on scrapes: HTTPS targets served by a real rustls server, with certificates made by `openssl` at
//! test time (each test returns early, with a notice, when `openssl` is missing).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use discovery::TargetGroup;
use http_client::test_util::{Pki, TlsServer, serve};
use model::{Labels, Matcher};
use scrape::{Manager, ScrapeOptions, TargetHealth, TargetInfo};
use storage::{MemStorage, Queryable, ValueKind};

const BODY: &str = "# TYPE tls_test_metric gauge\ntls_test_metric 42\n";

/// A running manager with one https job whose `tls_config` is `tls_yaml` (indented for the section), scraping
/// `address` every second.
struct Job {
    manager: Manager,
    store: MemStorage,
}

impl Job {
    fn start(address: &str, tls_yaml: &str) -> Job {
        let yaml = format!(
            "scrape_configs:\n  - job_name: j\n    scheme: https\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    tls_config:\n{tls_yaml}"
        );
        let c = config::load_str(&yaml, "t").unwrap();
        let store = MemStorage::new();
        let manager = Manager::new(Arc::new(store.clone()));
        manager.apply_config(vec![ScrapeOptions::new(&c.scrape_configs[0], &c.global)]);
        manager.sync(
            "j",
            vec![TargetGroup {
                source: "0".into(),
                targets: vec![Labels::from_pairs([("__address__", address)])],
                labels: Labels::empty(),
            }],
        );
        Job { manager, store }
    }

    /// The target once it has been scraped after `after`.
    async fn scraped_after(&self, after: SystemTime) -> TargetInfo {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = self.manager.active_targets().pop().expect("one target");
            if t.last_scrape.is_some_and(|s| s > after) {
                return t;
            }
            assert!(Instant::now() < deadline, "the target was not scraped in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn scraped(&self) -> TargetInfo {
        self.scraped_after(SystemTime::UNIX_EPOCH).await
    }

    /// The values of series `name`.
    fn values(&self, name: &str) -> Vec<f64> {
        let q = self.store.querier(0, i64::MAX).unwrap();
        let mut set = q.select(true, None, &[Matcher::equal("__name__", name)]);
        let mut out = Vec::new();
        while let Some(s) = set.next() {
            let mut c = s.cursor();
            while c.next() == ValueKind::Float {
                out.push(c.at().1);
            }
        }
        out
    }
}

fn indent(lines: &[String]) -> String {
    lines.iter().map(|l| format!("      {l}\n")).collect()
}

async fn server(pki: &Pki, name: &str, client_ca: bool) -> TlsServer {
    let ca = pki.path("ca.crt");
    serve(
        &pki.path(&format!("{name}.crt")),
        &pki.path(&format!("{name}.key")),
        client_ca.then_some(ca.as_path()),
        BODY,
    )
    .await
}

#[tokio::test]
async fn ca_file_verifies_the_server() {
    let Some(pki) = Pki::generate() else { return };
    let srv = server(&pki, "server", false).await;
    let job = Job::start(
        &format!("localhost:{}", srv.addr.port()),
        &indent(&[format!("ca_file: {}", pki.file("ca.crt"))]),
    );
    let t = job.scraped().await;
    assert_eq!((t.health, t.last_error.as_str()), (TargetHealth::Up, ""));
    assert_eq!(job.values("tls_test_metric"), [42.0]);
    assert_eq!(job.values("up"), [1.0]);
    let req = srv.requests.lock()[0].clone();
    assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", "/metrics"));
    job.manager.stop().await;
}

#[tokio::test]
async fn inline_ca_verifies_an_ip_address_target() {
    let Some(pki) = Pki::generate() else { return };
    let srv = server(&pki, "server", false).await;
    let ca = std::fs::read_to_string(pki.path("ca.crt")).unwrap();
    let job = Job::start(&srv.addr.to_string(), &indent(&[format!("ca: {ca:?}")]));
    let t = job.scraped().await;
    assert_eq!((t.health, t.last_error.as_str()), (TargetHealth::Up, ""));
    job.manager.stop().await;
}

#[tokio::test]
async fn unknown_ca_is_a_certificate_error() {
    let Some(pki) = Pki::generate() else { return };
    let srv = server(&pki, "server", false).await;
    // No `ca`: the system's trust anchors, which do not know the test CA.
    let job = Job::start(&srv.addr.to_string(), &indent(&["insecure_skip_verify: false".into()]));
    let t = job.scraped().await;
    assert_eq!(t.health, TargetHealth::Down);
    assert!(
        t.last_error.starts_with(&format!("Get \"https://{}/metrics\": ", srv.addr))
            && t.last_error.contains("invalid peer certificate: UnknownIssuer"),
        "{}",
        t.last_error
    );
    assert_eq!(job.values("up"), [0.0]);
    assert!(srv.requests.lock().is_empty());
    job.manager.stop().await;
}

#[tokio::test]
async fn server_name_verifies_a_certificate_for_another_name() {
    let Some(pki) = Pki::generate() else { return };
    let srv = server(&pki, "other", false).await;
    let ca = format!("ca_file: {}", pki.file("ca.crt"));

    let job = Job::start(&srv.addr.to_string(), &indent(std::slice::from_ref(&ca)));
    let t = job.scraped().await;
    assert_eq!(t.health, TargetHealth::Down);
    assert!(t.last_error.contains("certificate not valid for name"), "{}", t.last_error);
    job.manager.stop().await;

    let job =
        Job::start(&srv.addr.to_string(), &indent(&[ca, "server_name: other.example".into()]));
    let t = job.scraped().await;
    assert_eq!((t.health, t.last_error.as_str()), (TargetHealth::Up, ""));
    job.manager.stop().await;
}

#[tokio::test]
async fn insecure_skip_verify_accepts_any_certificate() {
    let Some(pki) = Pki::generate() else { return };
    let srv = server(&pki, "other", false).await;
    let job = Job::start(&srv.addr.to_string(), &indent(&["insecure_skip_verify: true".into()]));
    let t = job.scraped().await;
    assert_eq!((t.health, t.last_error.as_str()), (TargetHealth::Up, ""));
    job.manager.stop().await;
}

#[tokio::test]
async fn mutual_tls_needs_the_client_certificate() {
    let Some(pki) = Pki::generate() else { return };
    let srv = server(&pki, "server", true).await;
    let ca = format!("ca_file: {}", pki.file("ca.crt"));

    let job = Job::start(&srv.addr.to_string(), &indent(std::slice::from_ref(&ca)));
    let t = job.scraped().await;
    assert_eq!(t.health, TargetHealth::Down);
    assert!(
        t.last_error.ends_with("received fatal alert: CertificateRequired"),
        "{}",
        t.last_error
    );
    assert!(srv.requests.lock().is_empty(), "the server answered a client without certificate");
    job.manager.stop().await;

    let job = Job::start(
        &srv.addr.to_string(),
        &indent(&[
            ca,
            format!("cert_file: {}", pki.file("client.crt")),
            format!("key_file: {}", pki.file("client.key")),
        ]),
    );
    let t = job.scraped().await;
    assert_eq!((t.health, t.last_error.as_str()), (TargetHealth::Up, ""));
    assert_eq!(srv.requests.lock().len(), 1);
    job.manager.stop().await;
}

#[tokio::test]
async fn unusable_tls_material_is_the_target_error() {
    let Some(pki) = Pki::generate() else { return };
    let srv = server(&pki, "server", false).await;
    let addr = srv.addr.to_string();
    let missing = pki.file("missing.crt");
    let not_pem = pki.file("not-pem.crt");
    std::fs::write(&not_pem, "certainly not PEM\n").unwrap();
    let cases = [
        (
            vec![format!("ca_file: {missing}")],
            format!(
                "Get \"https://{addr}/metrics\": read CA certificate {missing:?}: No such file or directory (os error 2)"
            ),
        ),
        (
            vec![format!("ca_file: {not_pem}")],
            format!(
                "Get \"https://{addr}/metrics\": parse CA certificate from file {not_pem:?}: no PEM certificate found"
            ),
        ),
        (
            vec![
                format!("cert_file: {}", pki.file("client.crt")),
                format!("key_file: {}", pki.file("other.key")),
            ],
            format!(
                "Get \"https://{addr}/metrics\": use client certificate and key: the private key does not match the certificate"
            ),
        ),
    ];
    for (tls, want) in cases {
        let job = Job::start(&addr, &indent(&tls));
        let t = job.scraped().await;
        assert_eq!((t.health, t.last_error), (TargetHealth::Down, want));
        assert_eq!(job.values("up"), [0.0]);
        job.manager.stop().await;
    }
    assert!(srv.requests.lock().is_empty());
}

#[tokio::test]
async fn a_ca_file_that_appears_later_is_read() {
    let Some(pki) = Pki::generate() else { return };
    let srv = server(&pki, "server", false).await;
    let ca = pki.path("late-ca.crt");
    let job = Job::start(&srv.addr.to_string(), &indent(&[format!("ca_file: {}", ca.display())]));
    let t = job.scraped().await;
    assert!(t.last_error.contains("read CA certificate"), "{}", t.last_error);

    std::fs::copy(pki.path("ca.crt"), &ca).unwrap();
    let t = job.scraped_after(SystemTime::now()).await;
    assert_eq!((t.health, t.last_error.as_str()), (TargetHealth::Up, ""));
    job.manager.stop().await;
}
