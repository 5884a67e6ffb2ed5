//! Network settings after precedence: certificate files, client certificate
//! pairs and proxy settings, chosen here and judged by `crate::net`, so startup
//! refuses exactly what the agents could not use. Opens no connection.

use super::error::{invalid, io_problem, ConfigError};
use super::layer::{Layers, Origin, Sourced};
use crate::net::{CertPair, Hop, NetConfig, NetError, ProxySettings};
use std::path::{Path, PathBuf};

/// Certificate files and proxy settings after precedence, checked by
/// [`crate::net::validate`], the same code the agents are built with: a bad
/// bundle, a mismatched pair or a bad NO_PROXY entry fails here, at startup.
pub(crate) fn net_config(layers: &Layers<'_>) -> Result<NetConfig, ConfigError> {
    let proxy = proxy_settings(layers)?;
    let ca_bundle = layers.pick(|l| &l.ca_bundle);
    let mcp_ca_bundle = layers.pick(|l| &l.mcp_ca_bundle);
    let control_plane_cert = layers.pick(|l| &l.control_plane_cert);
    let control_plane_key = layers.pick(|l| &l.control_plane_key);
    let mcp_client_cert = layers.pick(|l| &l.mcp_client_cert);
    let mcp_client_key = layers.pick(|l| &l.mcp_client_key);
    let net = NetConfig {
        ca_bundle: ca_bundle.as_ref().map(|s| s.value.clone()),
        control_plane_mtls: cert_pair(Hop::ControlPlane, &control_plane_cert, &control_plane_key)?,
        mcp_mtls: cert_pair(Hop::Mcp, &mcp_client_cert, &mcp_client_key)?,
        mcp_ca_bundle: mcp_ca_bundle.as_ref().map(|s| s.value.clone()),
        proxy,
    };
    let files = [
        &ca_bundle,
        &control_plane_cert,
        &control_plane_key,
        &mcp_ca_bundle,
        &mcp_client_cert,
        &mcp_client_key,
    ];
    crate::net::validate(&net).map_err(|error| network_error(error, &files))?;
    Ok(net)
}

/// Proxy settings after precedence: the profile's `proxy` object wins over
/// the environment ([`Layers::pick_profile_first`]). Each URL and the NO_PROXY
/// list is checked by the network module on its own, so that an error names
/// the variable or profile key it came from.
pub fn proxy_settings(layers: &Layers<'_>) -> Result<ProxySettings, ConfigError> {
    let checked = |origin: Origin, one: ProxySettings| match one.validate() {
        Ok(()) => Ok(one),
        Err(error) => Err(ConfigError::Network {
            origin: Some(origin),
            error: Box::new(error),
        }),
    };
    let mut settings = ProxySettings::default();
    if let Some(p) = layers.pick_profile_first(|l| &l.https_proxy) {
        let one = ProxySettings {
            https_proxy: Some(with_scheme(&p.value)),
            ..ProxySettings::default()
        };
        settings.https_proxy = checked(p.origin, one)?.https_proxy;
    }
    if let Some(p) = layers.pick_profile_first(|l| &l.http_proxy) {
        let one = ProxySettings {
            http_proxy: Some(with_scheme(&p.value)),
            ..ProxySettings::default()
        };
        settings.http_proxy = checked(p.origin, one)?.http_proxy;
    }
    if let Some(list) = layers.pick_profile_first(|l| &l.no_proxy) {
        let one = ProxySettings {
            no_proxy: list.value,
            ..ProxySettings::default()
        };
        settings.no_proxy = checked(list.origin, one)?.no_proxy;
    }
    Ok(settings)
}

/// Operators often write `proxy:3128`; the stored URL always has its scheme
/// so that every message shows what will be used.
fn with_scheme(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// Both files of a client certificate, or neither (the files themselves are
/// read by [`crate::net::validate`]).
fn cert_pair(
    hop: Hop,
    cert: &Option<Sourced<PathBuf>>,
    key: &Option<Sourced<PathBuf>>,
) -> Result<Option<CertPair>, ConfigError> {
    let flags = match hop {
        Hop::ControlPlane => "--control-plane-cert and --control-plane-key",
        Hop::Mcp => "--mcp-client-cert and --mcp-client-key",
    };
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(one), None) | (None, Some(one)) => Err(invalid(
            &one.origin,
            "a client certificate needs both the certificate and its key",
            format!("give both {flags}, or neither"),
        )),
        (Some(cert), Some(key)) => Ok(Some(CertPair {
            cert_path: cert.value.clone(),
            key_path: key.value.clone(),
        })),
    }
}

/// Names the setting a [`NetError`] is about: the flag, variable or key of
/// the file (of the key, for a mismatched pair). A file that cannot even be
/// opened gets the same "cannot read" sentence as every other file.
fn network_error(error: NetError, files: &[&Option<Sourced<PathBuf>>]) -> ConfigError {
    let named = |path: &Path| {
        files
            .iter()
            .copied()
            .flatten()
            .find(|file| file.value == path)
    };
    let file = match &error {
        NetError::BadPemFile { path, .. } => named(path),
        NetError::CertKeyMismatch { key, .. } => named(key),
        _ => None,
    };
    let Some(file) = file else {
        return ConfigError::Network {
            origin: None,
            error: Box::new(error),
        };
    };
    if let Err(e) = std::fs::File::open(&file.value) {
        return ConfigError::Unreadable {
            path: file.value.clone(),
            problem: io_problem(&e),
            what: format!("the file named by {}", file.origin),
        };
    }
    ConfigError::Network {
        origin: Some(file.origin.clone()),
        error: Box::new(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::*;
    use crate::config::*;

    #[test]
    fn proxy_problems_fail_startup_naming_the_setting() {
        for (env, named) in [
            (
                ("NO_PROXY", "localhost,10.0.0.0/33"),
                "environment variable NO_PROXY",
            ),
            (
                ("https_proxy", "socks5://u:pw@h:1"),
                "environment variable https_proxy",
            ),
            (
                ("HTTP_PROXY", "http://u:pw@"),
                "environment variable HTTP_PROXY",
            ),
        ] {
            let e = resolve3(&Layer::default(), &Env::from_pairs([env]), &base_profile())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(named), "{e}");
            assert!(!e.contains("pw"), "{e}");
        }
        let mut profile = base_profile();
        profile.no_proxy = Some(Sourced::new(vec!["a b".into()], prof("proxy.no_proxy")));
        let e = resolve3(&Layer::default(), &Env::default(), &profile)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("profile key \"proxy.no_proxy\"") && e.contains("\"a b\""),
            "{e}"
        );
    }

    fn pki(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/pki")
            .join(name)
    }

    #[test]
    fn certificate_files_are_checked_by_net_and_blamed_on_their_setting() {
        let path = |name: &str, origin| Some(Sourced::new(pki(name), origin));
        let mut profile = base_profile();
        profile.ca_bundle = path("garbage.pem", prof("ca_bundle_path"));
        let e = resolve3(&Layer::default(), &Env::default(), &profile)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("profile key \"ca_bundle_path\" in /p.json: "),
            "{e}"
        );
        assert!(
            e.contains("garbage.pem") && e.contains("no PEM data"),
            "{e}"
        );

        let flags = Layer {
            mcp_client_cert: path("client-mcp.pem", flag("--mcp-client-cert")),
            mcp_client_key: path("client-cp.key", flag("--mcp-client-key")),
            ..Layer::default()
        };
        let e = resolve3(&flags, &Env::default(), &base_profile())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("--mcp-client-key: ") && e.contains("does not match"),
            "{e}"
        );

        let flags = Layer {
            mcp_ca_bundle: path("missing.pem", flag("--mcp-ca-bundle")),
            ..Layer::default()
        };
        let e = resolve3(&flags, &Env::default(), &base_profile()).unwrap_err();
        assert!(matches!(e, ConfigError::Unreadable { .. }), "{e}");
        assert!(e.to_string().contains("--mcp-ca-bundle"), "{e}");

        let flags = Layer {
            ca_bundle: path("ca-bundle.pem", flag("--ca-bundle")),
            control_plane_cert: path("client-cp.pem", flag("--control-plane-cert")),
            control_plane_key: path("client-cp.key", flag("--control-plane-key")),
            mcp_client_cert: path("client-mcp.pem", flag("--mcp-client-cert")),
            mcp_client_key: path("client-mcp.key", flag("--mcp-client-key")),
            mcp_ca_bundle: path("root-ca.pem", flag("--mcp-ca-bundle")),
            ..Layer::default()
        };
        let c = resolve3(&flags, &Env::default(), &base_profile()).unwrap();
        assert_eq!(c.net.ca_bundle, Some(pki("ca-bundle.pem")));
        assert_eq!(c.net.mcp_mtls.unwrap().key_path, pki("client-mcp.key"));
    }
}
