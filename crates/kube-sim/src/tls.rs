//! TLS: a fresh self-signed CA per run, and a server certificate it signs
//! for `127.0.0.1` and `localhost`. The CA goes into the kubeconfig as
//! `certificate-authority-data`, so clients verify the server as they would
//! a real cluster's.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// What serving TLS needs.
#[derive(Clone)]
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// The CA certificate, PEM.
    pub ca_pem: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

/// Makes a CA and a server certificate; offers HTTP/2 and HTTP/1.1 by ALPN.
///
/// # Errors
/// When key generation or the TLS configuration fails.
pub fn generate() -> Result<Tls, String> {
    let e = |what: &str| {
        let what = what.to_owned();
        move |err: rcgen::Error| format!("{what}: {err}")
    };
    let ca_key = KeyPair::generate().map_err(e("CA key"))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(e("CA"))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kube-sim CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(e("CA certificate"))?;

    let server_key = KeyPair::generate().map_err(e("server key"))?;
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(e("server"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-sim");
    let cert = params
        .signed_by(&server_key, &ca)
        .map_err(e("server certificate"))?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS versions: {err}"))?
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .map_err(|err| format!("TLS certificate: {err}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem: ca.pem(),
    })
}
