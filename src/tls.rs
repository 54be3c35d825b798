//! The optional TLS listener (`--tls-port`): rustls with ALPN `h2` and `http/1.1`, for
//! clients (the Java SDK v2 / KCL) that want HTTP/2 over TLS. The certificate comes from
//! `--tls-cert`/`--tls-key`, or is generated once and kept in the data dir.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::config::Config;

/// A certificate chain and key, PEM-encoded.
pub struct Identity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// Where the certificate lives (None for a generated in-memory one), for the log.
    pub cert_path: Option<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn generate() -> Result<Identity, String> {
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("cannot generate a TLS certificate: {e}"))?;
    Ok(Identity {
        cert_pem: made.cert.pem().into_bytes(),
        key_pem: made.key_pair.serialize_pem().into_bytes(),
        cert_path: None,
    })
}

/// The configured certificate, else the one kept in `<data-dir>/tls/`, generated (for
/// localhost, 127.0.0.1 and ::1) the first time.
pub fn identity(config: &Config) -> Result<Identity, String> {
    let s = &config.server;
    match (
        s.tls_cert.as_os_str().is_empty(),
        s.tls_key.as_os_str().is_empty(),
    ) {
        (false, false) => {
            return Ok(Identity {
                cert_pem: read(&s.tls_cert)?,
                key_pem: read(&s.tls_key)?,
                cert_path: Some(s.tls_cert.clone()),
            })
        }
        (true, true) => {}
        _ => return Err("server.tls_cert and server.tls_key go together".into()),
    }
    if config.storage.in_memory {
        return generate();
    }
    let dir = config.storage.data_dir.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.exists() && key.exists() {
        return Ok(Identity {
            cert_pem: read(&cert)?,
            key_pem: read(&key)?,
            cert_path: Some(cert),
        });
    }
    let made = generate()?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_private(&key, &made.key_pem)?;
    std::fs::write(&cert, &made.cert_pem)
        .map_err(|e| format!("cannot write {}: {e}", cert.display()))?;
    Ok(Identity {
        cert_path: Some(cert),
        ..made
    })
}

/// Writes a key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A rustls acceptor offering `h2` then `http/1.1`.
pub fn acceptor(id: &Identity) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&id.cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad TLS certificate: {e}"))?;
    let key =
        PrivateKeyDer::from_pem_slice(&id.key_pem).map_err(|e| format!("bad TLS key: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("TLS certificate and key do not match: {e}"))?;
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(tls)))
}
