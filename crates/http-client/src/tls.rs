//! `tls_config` as a rustls `ClientConfig`: trust anchors (`ca`/`ca_file`, else the system's), the client
//! certificate, `server_name`, `insecure_skip_verify` and the version range.
//!
//! Versions: rustls speaks TLS 1.2 and 1.3 only. A `min_version` of `TLS10` or `TLS11` therefore means "the oldest
//! we can", TLS 1.2 (such a setting asks to allow old servers, and every server that speaks 1.2 or 1.3 is still
//! reached); a `max_version` below `TLS12` cannot be honoured and is an error.
//!
//! `server_name` replaces the URL's host when the server's certificate is verified. The SNI extension still carries
//! the URL's host (none for IP addresses): reqwest derives it from the URL and offers no way to change it.

use std::sync::Arc;

use config::TlsConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::{Error, Origin};

/// The paths of the files `tls` reads; a change to any of them calls for a new client.
pub(crate) fn files(tls: &TlsConfig) -> impl Iterator<Item = &str> {
    [&tls.ca_file, &tls.cert_file, &tls.key_file]
        .into_iter()
        .filter_map(|f| f.as_deref().filter(|f| !f.is_empty()))
}

/// The rustls configuration for `tls`, offering `alpn` protocols. Files are read now.
pub(crate) fn client_config(
    tls: &TlsConfig,
    alpn: Vec<Vec<u8>>,
) -> Result<rustls::ClientConfig, Error> {
    let versions = versions(tls)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if tls.insecure_skip_verify {
        Arc::new(SkipVerification { algs: provider.signature_verification_algorithms })
    } else {
        Arc::new(NamedVerifier::new(tls, &provider)?)
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| Error::Build(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let cert =
        material(tls.cert.as_deref(), tls.cert_file.as_deref(), "cert", "client certificate")?;
    let key = material(
        tls.key.as_ref().map(|k| k.0.as_str()),
        tls.key_file.as_deref(),
        "key",
        "client key",
    )?;
    let mut cfg = match (cert, key) {
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => {
            return Err(Error::Invalid(
                "exactly one of key or key_file must be configured when a client certificate is configured",
            ));
        }
        (None, Some(_)) => {
            return Err(Error::Invalid(
                "exactly one of cert or cert_file must be configured when a client key is configured",
            ));
        }
        (Some((cert, cert_origin)), Some((key, key_origin))) => {
            let chain = certificates(&cert, &cert_origin, "client certificate")?;
            let key = PrivateKeyDer::from_pem_slice(&key).map_err(|e| Error::Pem {
                what: "client key",
                origin: key_origin,
                message: pem_message(&e),
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                Error::ClientCert(match e {
                    rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                        "the private key does not match the certificate".into()
                    }
                    e => e.to_string(),
                })
            })?
        }
    };
    cfg.alpn_protocols = alpn;
    Ok(cfg)
}

/// A TLS version setting as a minor version number (`TLS12` → 2).
fn version(s: &str) -> Result<u8, Error> {
    match s {
        "TLS10" => Ok(0),
        "TLS11" => Ok(1),
        "TLS12" => Ok(2),
        "TLS13" => Ok(3),
        _ => Err(Error::UnknownTlsVersion(s.to_string())),
    }
}

fn versions(tls: &TlsConfig) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, Error> {
    let given = |v: &Option<String>| v.as_deref().filter(|v| !v.is_empty()).map(version);
    let min = given(&tls.min_version).transpose()?.unwrap_or(2);
    let max = given(&tls.max_version).transpose()?.unwrap_or(3);
    if max < 2 {
        return Err(Error::UnsupportedTlsVersion(tls.max_version.clone().unwrap_or_default()));
    }
    if min > max {
        return Err(Error::TlsVersionRange {
            min: tls.min_version.clone().unwrap_or_default(),
            max: tls.max_version.clone().unwrap_or_default(),
        });
    }
    let mut out = Vec::new();
    if min <= 2 {
        out.push(&rustls::version::TLS12);
    }
    if max >= 3 {
        out.push(&rustls::version::TLS13);
    }
    Ok(out)
}

/// The bytes of one piece of material given inline (under configuration key `key`) or as a file; at most one of
/// the two may be set.
fn material(
    inline: Option<&str>,
    file: Option<&str>,
    key: &'static str,
    what: &'static str,
) -> Result<Option<(Vec<u8>, Origin)>, Error> {
    let inline = inline.filter(|s| !s.is_empty());
    let file = file.filter(|s| !s.is_empty());
    match (inline, file) {
        (Some(_), Some(_)) => Err(Error::Invalid(match key {
            "ca" => "at most one of ca and ca_file must be configured",
            "cert" => "at most one of cert and cert_file must be configured",
            _ => "at most one of key and key_file must be configured",
        })),
        (Some(text), None) => Ok(Some((text.as_bytes().to_vec(), Origin::Inline(key)))),
        (None, Some(path)) => match std::fs::read(path) {
            Ok(b) => Ok(Some((b, Origin::File(path.to_string())))),
            Err(e) => Err(Error::ReadFile { what, path: path.to_string(), message: e.to_string() }),
        },
        (None, None) => Ok(None),
    }
}

/// Every certificate in PEM text; at least one is required.
fn certificates(
    pem: &[u8],
    origin: &Origin,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Pem { what, origin: origin.clone(), message: pem_message(&e) })?;
    if certs.is_empty() {
        return Err(Error::Pem {
            what,
            origin: origin.clone(),
            message: "no PEM certificate found".into(),
        });
    }
    Ok(certs)
}

fn pem_message(e: &rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            "no PEM item of the expected kind found".into()
        }
        other => other.to_string(),
    }
}

/// Verifies server certificates with webpki against the configured trust anchors, checking the configured
/// `server_name` instead of the URL's host when there is one.
#[derive(Debug)]
struct NamedVerifier {
    /// None when there are no trust anchors at all: every certificate is then of an unknown issuer.
    inner: Option<Arc<WebPkiServerVerifier>>,
    name: Option<ServerName<'static>>,
    algs: WebPkiSupportedAlgorithms,
}

impl NamedVerifier {
    fn new(tls: &TlsConfig, provider: &Arc<CryptoProvider>) -> Result<NamedVerifier, Error> {
        let mut roots = RootCertStore::empty();
        match material(tls.ca.as_deref(), tls.ca_file.as_deref(), "ca", "CA certificate")? {
            Some((pem, origin)) => {
                for cert in certificates(&pem, &origin, "CA certificate")? {
                    roots.add(cert).map_err(|e| Error::CaCert {
                        origin: origin.clone(),
                        message: e.to_string(),
                    })?;
                }
            }
            None => {
                // Unreadable system certificates are skipped: the servers they would vouch for fail to verify.
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        let name = match tls.server_name.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => Some(
                ServerName::try_from(n.to_string())
                    .map_err(|_| Error::ServerName(n.to_string()))?,
            ),
            None => None,
        };
        let inner = if roots.is_empty() {
            None
        } else {
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| Error::Build(e.to_string()))?,
            )
        };
        Ok(NamedVerifier { inner, name, algs: provider.signature_verification_algorithms })
    }
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        };
        let name = self.name.as_ref().unwrap_or(server_name);
        inner.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// `insecure_skip_verify`: any certificate is accepted, though the handshake signatures are still checked (they
/// prove the peer holds the key of the certificate it sent).
#[derive(Debug)]
struct SkipVerification {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for SkipVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(min: Option<&str>, max: Option<&str>) -> TlsConfig {
        TlsConfig {
            min_version: min.map(str::to_string),
            max_version: max.map(str::to_string),
            ..TlsConfig::default()
        }
    }

    #[test]
    fn versions_map_onto_what_rustls_speaks() {
        let names = |min, max| {
            versions(&tls(min, max)).map(|v| v.iter().map(|v| v.version).collect::<Vec<_>>())
        };
        let (v12, v13) = (rustls::ProtocolVersion::TLSv1_2, rustls::ProtocolVersion::TLSv1_3);
        assert_eq!(names(None, None), Ok(vec![v12, v13]));
        assert_eq!(names(Some("TLS10"), None), Ok(vec![v12, v13]), "old minimums mean TLS 1.2");
        assert_eq!(names(Some("TLS13"), None), Ok(vec![v13]));
        assert_eq!(names(None, Some("TLS12")), Ok(vec![v12]));
        assert_eq!(names(Some("TLS11"), Some("TLS12")), Ok(vec![v12]));
        assert_eq!(names(None, Some("TLS11")), Err(Error::UnsupportedTlsVersion("TLS11".into())));
        assert_eq!(names(Some("TLS14"), None), Err(Error::UnknownTlsVersion("TLS14".into())));
        assert_eq!(
            names(Some("TLS13"), Some("TLS12")).unwrap_err().to_string(),
            "min_version TLS13 is greater than max_version TLS12"
        );
    }

    #[test]
    fn exclusive_and_paired_settings() {
        let build = |t: TlsConfig| client_config(&t, Vec::new()).map(|_| ()).unwrap_err();
        let both_ca =
            TlsConfig { ca: Some("x".into()), ca_file: Some("y".into()), ..TlsConfig::default() };
        assert_eq!(build(both_ca).to_string(), "at most one of ca and ca_file must be configured");
        let cert_only = TlsConfig { cert_file: Some("c".into()), ..TlsConfig::default() };
        assert!(
            build(cert_only).to_string().starts_with("read client certificate \"c\""),
            "the file is read before the pairing is checked"
        );
        let cert_only = TlsConfig { cert: Some("c".into()), ..TlsConfig::default() };
        assert!(
            matches!(build(cert_only), Error::Invalid(m) if m.starts_with("exactly one of key"))
        );
        let bad_ca = TlsConfig { ca: Some("not pem".into()), ..TlsConfig::default() };
        assert_eq!(
            build(bad_ca).to_string(),
            "parse CA certificate from inline ca: no PEM certificate found"
        );
        let bad_name = TlsConfig { server_name: Some("a b".into()), ..TlsConfig::default() };
        assert_eq!(build(bad_name), Error::ServerName("a b".into()));
    }
}
