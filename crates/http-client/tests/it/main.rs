//! Clients made by `http-client` against a real TLS server on loopback.

use http_client::test_util::{Pki, serve};
use http_client::{Client, ClientSettings};

fn settings(pki: &Pki) -> ClientSettings {
    let mut s = ClientSettings::default();
    s.tls.ca_file = Some(pki.file("ca.crt"));
    s
}

#[tokio::test]
async fn http_headers_are_sent_with_every_request() {
    let Some(pki) = Pki::generate() else { return };
    let srv = serve(&pki.path("server.crt"), &pki.path("server.key"), None, "ok").await;
    let token = pki.path("token");
    std::fs::write(&token, "t0k3n\n").unwrap();
    let s = ClientSettings {
        http_headers: Some(serde_json::json!({
            "X-Tenant": {"values": ["a"], "files": [token.to_str().unwrap()]},
        })),
        enable_http2: false,
        user_agent: Some("test-agent".into()),
        ..settings(&pki)
    };
    let c = Client::new(s).get().unwrap();
    let url = format!("https://localhost:{}/x", srv.addr.port());
    let resp = c.get(&url).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "ok");
    let req = srv.requests.lock()[0].clone();
    let values: Vec<&str> =
        req.headers.iter().filter(|(n, _)| n == "x-tenant").map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["a, t0k3n"]);
    assert!(req.headers.contains(&("user-agent".into(), "test-agent".into())));
}

#[tokio::test]
async fn a_rotated_client_certificate_is_used_by_the_next_request() {
    let Some(pki) = Pki::generate() else { return };
    let srv =
        serve(&pki.path("server.crt"), &pki.path("server.key"), Some(&pki.path("ca.crt")), "ok")
            .await;
    let (cert, key) = (pki.path("current.crt"), pki.path("current.key"));
    // At first the configured pair does not match: the client cannot be built.
    std::fs::copy(pki.path("client.crt"), &cert).unwrap();
    std::fs::copy(pki.path("other.key"), &key).unwrap();
    let s = ClientSettings {
        tls: config::TlsConfig {
            cert_file: Some(cert.to_string_lossy().into()),
            key_file: Some(key.to_string_lossy().into()),
            ..settings(&pki).tls
        },
        ..ClientSettings::default()
    };
    let c = Client::new(s);
    let err = c.get().unwrap_err();
    assert_eq!(
        err.to_string(),
        "use client certificate and key: the private key does not match the certificate"
    );
    assert_eq!(c.get().unwrap_err(), err, "the error is kept while the files stay the same");

    std::fs::copy(pki.path("client.key"), &key).unwrap();
    let url = format!("https://127.0.0.1:{}/", srv.addr.port());
    let resp = c.get().unwrap().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[test]
fn proxy_settings_are_checked() {
    let s = ClientSettings { no_proxy: Some("localhost".into()), ..ClientSettings::default() };
    assert_eq!(
        http_client::build(&s).unwrap_err().to_string(),
        "if no_proxy is configured, proxy_url must also be configured"
    );
    let s = ClientSettings {
        proxy_url: Some("http://proxy:3128".into()),
        no_proxy: Some("localhost,10.0.0.0/8".into()),
        proxy_connect_header: Some(serde_json::json!({"Proxy-Authorization": ["Basic eDp5"]})),
        ..ClientSettings::default()
    };
    http_client::build(&s).unwrap();
}
