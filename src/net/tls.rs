//! TLS material: PEM files read and checked, root stores (web roots plus
//! bundles), client identities, and each hop's rustls `ClientConfig`.
//! Must never print key bytes, or let a bad file through to the first connection.

use super::{CertPair, Hop, NetConfig, NetError};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// Largest PEM file read (bundles included); distro bundles are ~250 KB.
pub const MAX_PEM_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// What a PEM file is for, so messages name the flag and profile key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    CaBundle,
    McpCaBundle,
    Cert(Hop),
    Key(Hop),
}

impl Role {
    fn describe(self) -> &'static str {
        match self {
            Role::CaBundle => "the CA bundle (--ca-bundle / ca_bundle_path)",
            Role::McpCaBundle => {
                "the MCP CA bundle (--mcp-ca-bundle / mcp_client_mtls.ca_bundle_path)"
            }
            Role::Cert(Hop::ControlPlane) => {
                "the control-plane client certificate (--control-plane-cert / control_plane_mtls.cert_path)"
            }
            Role::Cert(Hop::Mcp) => {
                "the MCP client certificate (--mcp-client-cert / mcp_client_mtls.cert_path)"
            }
            Role::Key(Hop::ControlPlane) => {
                "the control-plane client key (--control-plane-key / control_plane_mtls.key_path)"
            }
            Role::Key(Hop::Mcp) => "the MCP client key (--mcp-client-key / mcp_client_mtls.key_path)",
        }
    }

    fn error(self, path: &Path, problem: impl std::fmt::Display) -> NetError {
        NetError::BadPemFile {
            path: path.to_path_buf(),
            problem: format!("{}: {problem}", self.describe()),
        }
    }
}

/// The crypto provider: whatever the process installed, else ring (so
/// libraries and tests work without `install_default`).
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()))
}

/// Reads at most [`MAX_PEM_FILE_BYTES`] and splits the file into PEM sections.
/// Sections of labels rustls does not know are skipped by the parser.
fn read_sections(path: &Path, role: Role) -> Result<Vec<(SectionKind, Vec<u8>)>, NetError> {
    let file =
        std::fs::File::open(path).map_err(|e| role.error(path, format!("cannot read it ({e})")))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| role.error(path, format!("cannot read it ({e})")))?;
    if bytes.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(role.error(
            path,
            format!("larger than {MAX_PEM_FILE_BYTES} bytes; is this really a PEM file?"),
        ));
    }
    if contains(&bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(role.error(
            path,
            "the key is encrypted; tunnel-client needs an unencrypted key \
             (openssl pkey -in KEY -out KEY.plain, then protect the file with chmod 600)",
        ));
    }
    let mut sections = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes) {
        // The parser's own errors name markers and lines, never key bytes.
        let section = section.map_err(|e| role.error(path, format!("not valid PEM ({e})")))?;
        sections.push(section);
    }
    if sections.is_empty() {
        return Err(role.error(
            path,
            "no PEM data found (expected -----BEGIN ...----- blocks); \
             convert DER files with `openssl x509 -inform der -in FILE -out FILE.pem`",
        ));
    }
    Ok(sections)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn read_certificates(path: &Path, role: Role) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let certs: Vec<CertificateDer<'static>> = read_sections(path, role)?
        .into_iter()
        .filter(|(kind, _)| *kind == SectionKind::Certificate)
        .map(|(_, der)| CertificateDer::from(der))
        .collect();
    if certs.is_empty() {
        return Err(role.error(
            path,
            "no certificates found (expected -----BEGIN CERTIFICATE----- blocks)",
        ));
    }
    Ok(certs)
}

fn read_private_key(path: &Path, role: Role) -> Result<PrivateKeyDer<'static>, NetError> {
    for (kind, der) in read_sections(path, role)? {
        let key = match kind {
            SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(der.into()),
            SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(der.into()),
            SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(der.into()),
            _ => continue,
        };
        return Ok(key);
    }
    Err(role.error(
        path,
        "no private key found (expected a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)",
    ))
}

/// Adds every certificate of the bundle at `path` to `store`; returns how many.
fn add_bundle(store: &mut RootCertStore, path: &Path, role: Role) -> Result<usize, NetError> {
    let certs = read_certificates(path, role)?;
    let count = certs.len();
    for (index, cert) in certs.into_iter().enumerate() {
        store.add(cert).map_err(|e| {
            role.error(
                path,
                format!(
                    "certificate #{} is not a usable X.509 certificate ({e})",
                    index + 1
                ),
            )
        })?;
    }
    Ok(count)
}

/// Parses the CA bundle at `path` (for doctor); returns its certificate count.
pub fn load_ca_bundle(path: &Path) -> Result<usize, NetError> {
    add_bundle(&mut RootCertStore::empty(), path, Role::CaBundle)
}

/// The roots `hop` trusts. The control plane, and the MCP hop without its own
/// bundle, trust the built-in web roots plus every certificate of
/// `ca_bundle` (never instead of them). `mcp_ca_bundle` is the MCP hop's
/// whole trust: it replaces the roots there and touches nothing else.
pub fn root_store(hop: Hop, net: &NetConfig) -> Result<RootCertStore, NetError> {
    if let (Hop::Mcp, Some(path)) = (hop, &net.mcp_ca_bundle) {
        let mut store = RootCertStore::empty();
        add_bundle(&mut store, path, Role::McpCaBundle)?;
        return Ok(store);
    }
    let mut store = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = &net.ca_bundle {
        add_bundle(&mut store, path, Role::CaBundle)?;
    }
    Ok(store)
}

/// Loads `pair` and proves the key belongs to the leaf certificate (the
/// first of the chain). ureq would panic on a mismatch at the first
/// connection; here it is a [`NetError::CertKeyMismatch`].
fn client_identity(
    hop: Hop,
    pair: &CertPair,
    provider: &CryptoProvider,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), NetError> {
    let chain = read_certificates(&pair.cert_path, Role::Cert(hop))?;
    let key = read_private_key(&pair.key_path, Role::Key(hop))?;
    let signing_key = provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|e| {
            Role::Key(hop).error(&pair.key_path, format!("the key cannot be used ({e})"))
        })?;
    // `with_client_auth_cert` runs the same comparison, but tolerates keys
    // whose public half is unknown; ring always knows it, so this is strict.
    match CertifiedKey::new(chain.clone(), signing_key).keys_match() {
        Ok(()) => Ok((chain, key)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(NetError::CertKeyMismatch {
                cert: pair.cert_path.clone(),
                key: pair.key_path.clone(),
            })
        }
        Err(e) => Err(Role::Cert(hop).error(
            &pair.cert_path,
            format!("the first certificate cannot be used as a client certificate ({e})"),
        )),
    }
}

/// Checks one certificate/key pair (for doctor and startup).
pub fn check_cert_pair(hop: Hop, pair: &CertPair) -> Result<(), NetError> {
    client_identity(hop, pair, &provider()).map(|_| ())
}

/// The client configurations of one hop: `identified` offers the hop's
/// client certificate (when configured) and is used only for the agent's own
/// origin; `anonymous` has the hop's roots and no certificate (any other
/// host); `proxy` is for an https:// proxy: web roots plus `--ca-bundle` on
/// both hops (the MCP bundle is about the MCP server, not the proxy), never a
/// client certificate.
#[derive(Debug, Clone)]
pub(crate) struct HopTls {
    pub identified: Arc<ClientConfig>,
    pub anonymous: Arc<ClientConfig>,
    pub proxy: Arc<ClientConfig>,
}

impl HopTls {
    /// Whether `identified` carries a client certificate.
    pub(crate) fn presents_client_cert(&self) -> bool {
        !Arc::ptr_eq(&self.identified, &self.anonymous)
    }

    pub(crate) fn build(hop: Hop, net: &NetConfig) -> Result<HopTls, NetError> {
        let provider = provider();
        let roots = root_store(hop, net)?;
        let build = |roots: RootCertStore| {
            ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots))
                .map_err(|e| NetError::TlsSetup {
                    problem: format!("the crypto provider supports no TLS version ({e})"),
                })
        };
        let anonymous = Arc::new(build(roots.clone())?.with_no_client_auth());
        let proxy = match hop {
            Hop::ControlPlane => anonymous.clone(),
            Hop::Mcp => Arc::new(build(root_store(Hop::ControlPlane, net)?)?.with_no_client_auth()),
        };
        let pair = match hop {
            Hop::ControlPlane => &net.control_plane_mtls,
            Hop::Mcp => &net.mcp_mtls,
        };
        let Some(pair) = pair else {
            return Ok(HopTls {
                identified: anonymous.clone(),
                anonymous,
                proxy,
            });
        };
        let (chain, key) = client_identity(hop, pair, &provider)?;
        let identified = build(roots)?
            .with_client_auth_cert(chain, key)
            .map_err(|e| match e {
                rustls::Error::InconsistentKeys(_) => NetError::CertKeyMismatch {
                    cert: pair.cert_path.clone(),
                    key: pair.key_path.clone(),
                },
                other => Role::Key(hop).error(&pair.key_path, format!("unusable ({other})")),
            })?;
        Ok(HopTls {
            identified: Arc::new(identified),
            anonymous,
            proxy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn pki(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pki")
            .join(name)
    }

    fn pair(cert: &str, key: &str) -> CertPair {
        CertPair {
            cert_path: pki(cert),
            key_path: pki(key),
        }
    }

    #[test]
    fn bundle_adds_to_web_roots_never_replaces() {
        let web = webpki_roots::TLS_SERVER_ROOTS.len();
        assert!(web > 100);
        let plain = root_store(Hop::ControlPlane, &NetConfig::default()).unwrap();
        assert_eq!(plain.len(), web);
        let net = NetConfig {
            ca_bundle: Some(pki("ca-bundle.pem")),
            ..NetConfig::default()
        };
        assert_eq!(load_ca_bundle(&pki("ca-bundle.pem")).unwrap(), 2);
        assert_eq!(root_store(Hop::ControlPlane, &net).unwrap().len(), web + 2);
        assert_eq!(root_store(Hop::Mcp, &net).unwrap().len(), web + 2);
    }

    #[test]
    fn mcp_bundle_is_the_mcp_hops_whole_trust() {
        let net = NetConfig {
            ca_bundle: Some(pki("ca-bundle.pem")),
            mcp_ca_bundle: Some(pki("root-ca.pem")),
            ..NetConfig::default()
        };
        assert_eq!(root_store(Hop::Mcp, &net).unwrap().len(), 1);
        assert_eq!(
            root_store(Hop::ControlPlane, &net).unwrap().len(),
            webpki_roots::TLS_SERVER_ROOTS.len() + 2
        );
    }

    fn bundle_error(path: PathBuf) -> String {
        let net = NetConfig {
            ca_bundle: Some(path),
            ..NetConfig::default()
        };
        root_store(Hop::ControlPlane, &net).unwrap_err().to_string()
    }

    #[test]
    fn bad_bundles_name_the_file_and_the_problem() {
        let missing = bundle_error(pki("does-not-exist.pem"));
        assert!(
            missing.contains("does-not-exist.pem") && missing.contains("cannot read"),
            "{missing}"
        );
        assert!(missing.contains("--ca-bundle"), "{missing}");

        let garbage = bundle_error(pki("garbage.pem"));
        assert!(
            garbage.contains("garbage.pem") && garbage.contains("no PEM data"),
            "{garbage}"
        );

        let keys_only = bundle_error(pki("no-certs.pem"));
        assert!(
            keys_only.contains("no-certs.pem") && keys_only.contains("no certificates"),
            "{keys_only}"
        );

        let truncated = bundle_error(pki("truncated.pem"));
        assert!(
            truncated.contains("truncated.pem") && truncated.contains("not valid PEM"),
            "{truncated}"
        );
    }

    #[test]
    fn every_key_format_loads_and_matches() {
        // PKCS#8 EC, SEC1 EC, PKCS#1 RSA.
        check_cert_pair(Hop::ControlPlane, &pair("client-cp.pem", "client-cp.key")).unwrap();
        check_cert_pair(
            Hop::ControlPlane,
            &pair("client-cp.pem", "client-cp-sec1.key"),
        )
        .unwrap();
        check_cert_pair(Hop::Mcp, &pair("client-mcp.pem", "client-mcp.key")).unwrap();
    }

    #[test]
    fn mismatched_pairs_are_caught() {
        for (cert, key) in [
            ("client-cp.pem", "client-mcp.key"),
            ("client-mcp.pem", "client-cp.key"),
            ("client-cp.pem", "server.key"),
        ] {
            let err = check_cert_pair(Hop::Mcp, &pair(cert, key)).unwrap_err();
            assert_eq!(
                err,
                NetError::CertKeyMismatch {
                    cert: pki(cert),
                    key: pki(key)
                }
            );
            let text = err.to_string();
            assert!(text.contains(cert) && text.contains(key), "{text}");
        }
        // The same mismatch fails building the hop's configuration.
        let net = NetConfig {
            control_plane_mtls: Some(pair("client-cp.pem", "client-mcp.key")),
            ..NetConfig::default()
        };
        assert!(matches!(
            HopTls::build(Hop::ControlPlane, &net),
            Err(NetError::CertKeyMismatch { .. })
        ));
        // The MCP hop does not read the control plane's pair.
        assert!(HopTls::build(Hop::Mcp, &net).is_ok());
    }

    #[test]
    fn swapped_or_broken_client_files_are_named() {
        let key_as_cert =
            check_cert_pair(Hop::ControlPlane, &pair("client-cp.key", "client-cp.key"))
                .unwrap_err()
                .to_string();
        assert!(
            key_as_cert.contains("client-cp.key") && key_as_cert.contains("no certificates"),
            "{key_as_cert}"
        );
        assert!(
            key_as_cert.contains("--control-plane-cert"),
            "{key_as_cert}"
        );

        let cert_as_key = check_cert_pair(Hop::Mcp, &pair("client-mcp.pem", "client-mcp.pem"))
            .unwrap_err()
            .to_string();
        assert!(
            cert_as_key.contains("no private key") && cert_as_key.contains("--mcp-client-key"),
            "{cert_as_key}"
        );

        let garbage = check_cert_pair(Hop::Mcp, &pair("client-mcp.pem", "garbage.pem"))
            .unwrap_err()
            .to_string();
        assert!(garbage.contains("garbage.pem"), "{garbage}");
    }

    #[test]
    fn encrypted_keys_are_explained() {
        let dir = std::env::temp_dir().join(format!("net-tls-enc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("enc.key");
        std::fs::write(
            &key,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = check_cert_pair(
            Hop::Mcp,
            &CertPair {
                cert_path: pki("client-mcp.pem"),
                key_path: key.clone(),
            },
        )
        .unwrap_err()
        .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            err.contains("encrypted") && err.contains("enc.key"),
            "{err}"
        );
    }
}
