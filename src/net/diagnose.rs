//! Connection failures in words a person can act on ([`ConnectFailure`]), and
//! the doctor's live checks: CONNECT through the proxy, TLS with the trust.
//! Must never echo proxy credentials, tokens or response bodies.

use super::connector::ProxyTlsError;
use super::proxy::{redact_url, Destination};
use super::tls::HopTls;
use super::{build_agent, Hop, NetConfig, NetError, CONNECT_TIMEOUT};
use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError, ClientConnection, StreamOwned};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// How long one doctor check may take end to end.
pub const DOCTOR_TIMEOUT: Duration = Duration::from_secs(15);
/// Most bytes of a proxy's CONNECT answer read before giving up on it.
const MAX_PROXY_RESPONSE_HEAD: usize = 16 * 1024;

/// Why a connection failed, for logs, doctor and `--explain`. `Display` is
/// one sentence: the cause, then the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The server's chain does not lead to a trusted root.
    UntrustedCertificate {
        hop: Hop,
    },
    /// The certificate does not list the name we connected to.
    NameMismatch {
        host: String,
    },
    CertificateExpired,
    CertificateNotYetValid,
    /// Any other reason rustls rejected the server's certificate.
    CertificateRejected {
        detail: String,
    },
    /// The server asked for a client certificate and this hop has none.
    ClientCertificateRequired {
        hop: Hop,
    },
    /// The server refused the client certificate this hop presented.
    ClientCertificateRejected {
        hop: Hop,
    },
    /// Another TLS failure.
    Handshake {
        detail: String,
    },
    /// The proxy answered CONNECT with something other than 200.
    ProxyRefused {
        proxy: String,
        status: u16,
        reason: String,
    },
    /// The proxy itself could not be reached (DNS, TCP, TLS to the proxy).
    ProxyUnreachable {
        proxy: String,
        detail: String,
    },
    /// The proxy closed or stalled without answering CONNECT.
    ProxyNoResponse {
        proxy: String,
    },
    /// TLS with an https:// proxy itself failed (`cause` describes why).
    ProxyTls {
        proxy: String,
        cause: Box<ConnectFailure>,
    },
    HostNotFound {
        host: String,
    },
    ConnectionRefused {
        address: String,
    },
    TimedOut {
        detail: String,
    },
    Other {
        detail: String,
    },
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::UntrustedCertificate { hop } => write!(
                f,
                "the server's certificate is not trusted: add its CA with {}",
                hop.trust_flags()
            ),
            ConnectFailure::NameMismatch { host } => write!(
                f,
                "the server's certificate is not valid for the name {host} (name mismatch): \
                 connect using a name the certificate lists, or have the certificate reissued \
                 for {host}"
            ),
            ConnectFailure::CertificateExpired => f.write_str(
                "the server's certificate has expired: renew it on the server \
                 (or correct this machine's clock)",
            ),
            ConnectFailure::CertificateNotYetValid => {
                f.write_str("the server's certificate is not valid yet: check this machine's clock")
            }
            ConnectFailure::CertificateRejected { detail } => {
                write!(f, "the server's certificate was rejected ({detail})")
            }
            ConnectFailure::ClientCertificateRequired { hop } => write!(
                f,
                "the server requires a client certificate: set {}",
                hop.client_cert_flags()
            ),
            ConnectFailure::ClientCertificateRejected { hop } => write!(
                f,
                "the server rejected our client certificate: check that {} name a \
                 certificate issued by a CA the server trusts, and that it has not expired",
                hop.client_cert_flags()
            ),
            ConnectFailure::Handshake { detail } => {
                write!(f, "the TLS handshake failed ({detail})")
            }
            ConnectFailure::ProxyRefused {
                proxy,
                status,
                reason,
            } => {
                write!(
                    f,
                    "the proxy {proxy} refused the connection ({status} {reason})"
                )?;
                match status {
                    407 => f.write_str(
                        ": check the user name and password in the proxy URL \
                         (http://user:password@host:port, percent-encoded)",
                    ),
                    403 => f.write_str(
                        ": the proxy does not allow this destination; ask its administrators \
                         to allow it, or list the host in NO_PROXY if it is reachable directly",
                    ),
                    502..=504 => f.write_str(
                        ": the proxy could not reach the destination; check the URL's host and \
                         port, and that the proxy can resolve and reach them",
                    ),
                    _ => Ok(()),
                }
            }
            ConnectFailure::ProxyUnreachable { proxy, detail } => write!(
                f,
                "could not reach the proxy {proxy} ({detail}): check HTTPS_PROXY / HTTP_PROXY \
                 or the profile's proxy settings"
            ),
            ConnectFailure::ProxyNoResponse { proxy } => write!(
                f,
                "the proxy {proxy} did not answer the CONNECT request: check that it is an \
                 HTTP proxy that supports CONNECT"
            ),
            ConnectFailure::ProxyTls { proxy, cause } => {
                write!(f, "TLS with the proxy {proxy} failed: {cause}")
            }
            ConnectFailure::HostNotFound { host } => write!(
                f,
                "could not resolve the host name {host}: check the URL and this machine's DNS \
                 (or configure HTTPS_PROXY if only the proxy can resolve it)"
            ),
            ConnectFailure::ConnectionRefused { address } => write!(
                f,
                "connection refused by {address}: check that the server is running and \
                 listening there"
            ),
            ConnectFailure::TimedOut { detail } => write!(f, "timed out ({detail})"),
            ConnectFailure::Other { detail } => f.write_str(detail),
        }
    }
}

impl std::error::Error for ConnectFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectFailure::ProxyTls { cause, .. } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

/// The proxy `target` goes through, as `host:port` (never credentials).
fn proxy_label(target: &str, net: &NetConfig) -> Option<String> {
    let destination = Destination::parse(target).ok()?;
    let proxy = net.proxy.proxy_for(&destination).ok().flatten()?;
    Some(format!("{}:{}", proxy.host(), proxy.port()))
}

/// Puts a failed request of an agent built by [`build_agent`]`(hop, target,
/// net)` into words: TLS causes first, then proxy refusals (which always say
/// it was the proxy), then DNS/TCP/timeouts.
pub fn describe_error(
    err: &ureq::Error,
    hop: Hop,
    target: &str,
    net: &NetConfig,
) -> ConnectFailure {
    let proxy = proxy_label(target, net);
    if let ureq::Error::Other(inner) = err {
        if let Some(ProxyTlsError(tls)) = inner.downcast_ref::<ProxyTlsError>() {
            let proxy = proxy.unwrap_or_else(|| "in use".to_string());
            let proxy_host = proxy.rsplit_once(':').map_or(proxy.as_str(), |(h, _)| h);
            let cause = describe_rustls(
                tls,
                Hop::ControlPlane,
                &format!("https://{proxy_host}/"),
                false,
            );
            return ConnectFailure::ProxyTls {
                proxy,
                cause: Box::new(cause),
            };
        }
    }
    if let Some(tls) = describe_tls_error(err, hop, target, net) {
        return tls;
    }
    let destination = Destination::parse(target).ok();
    match (err, proxy) {
        (ureq::Error::ConnectProxyFailed(message), proxy) => {
            let proxy = proxy.unwrap_or_else(|| "in use".to_string());
            // ureq words it "proxy server responded 407/407"; the status is
            // all we need, the reason phrase comes from the standard.
            let status = message
                .strip_prefix("proxy server responded ")
                .and_then(|rest| rest.get(..3))
                .and_then(|code| code.parse::<u16>().ok());
            match status {
                Some(status) => ConnectFailure::ProxyRefused {
                    proxy,
                    status,
                    reason: reason_phrase(status),
                },
                None => ConnectFailure::ProxyNoResponse { proxy },
            }
        }
        (ureq::Error::HostNotFound, Some(proxy)) => ConnectFailure::ProxyUnreachable {
            proxy,
            detail: "its host name does not resolve".to_string(),
        },
        (ureq::Error::HostNotFound, None) => ConnectFailure::HostNotFound {
            host: destination.map(|d| d.host).unwrap_or_default(),
        },
        (ureq::Error::Io(e), Some(proxy)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            ConnectFailure::ProxyUnreachable {
                proxy,
                detail: "connection refused".to_string(),
            }
        }
        (ureq::Error::Io(e), None) if e.kind() == io::ErrorKind::ConnectionRefused => {
            ConnectFailure::ConnectionRefused {
                address: destination.map(|d| d.authority()).unwrap_or_default(),
            }
        }
        (ureq::Error::Timeout(phase), proxy) => ConnectFailure::TimedOut {
            detail: match proxy {
                Some(proxy) => format!("{phase}, through the proxy {proxy}"),
                None => phase.to_string(),
            },
        },
        (ureq::Error::Tls(detail), _) => ConnectFailure::Handshake {
            detail: detail.to_string(),
        },
        (other, _) => ConnectFailure::Other {
            detail: other.to_string(),
        },
    }
}

/// The TLS part of [`describe_error`]: `None` when `err` is not a TLS failure.
/// Unknown issuer → "add its CA with --ca-bundle", name mismatch, expiry, and
/// the server's verdict on our client certificate.
pub fn describe_tls_error(
    err: &ureq::Error,
    hop: Hop,
    target: &str,
    net: &NetConfig,
) -> Option<ConnectFailure> {
    let tls = match err {
        ureq::Error::Rustls(e) => e,
        ureq::Error::Io(e) => e.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    let has_client_cert = match hop {
        Hop::ControlPlane => net.control_plane_mtls.is_some(),
        Hop::Mcp => net.mcp_mtls.is_some(),
    };
    Some(describe_rustls(tls, hop, target, has_client_cert))
}

fn describe_rustls(
    tls: &rustls::Error,
    hop: Hop,
    target: &str,
    has_client_cert: bool,
) -> ConnectFailure {
    match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => ConnectFailure::UntrustedCertificate { hop },
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                ConnectFailure::NameMismatch {
                    host: Destination::parse(target)
                        .map(|d| d.host)
                        .unwrap_or_default(),
                }
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                ConnectFailure::CertificateExpired
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                ConnectFailure::CertificateNotYetValid
            }
            other => ConnectFailure::CertificateRejected {
                detail: rustls::Error::InvalidCertificate(other.clone()).to_string(),
            },
        },
        rustls::Error::AlertReceived(alert) => match alert {
            AlertDescription::CertificateRequired => {
                ConnectFailure::ClientCertificateRequired { hop }
            }
            AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::HandshakeFailure => {
                if has_client_cert {
                    ConnectFailure::ClientCertificateRejected { hop }
                } else if *alert == AlertDescription::HandshakeFailure {
                    ConnectFailure::Handshake {
                        detail: format!(
                            "the server ended the handshake ({alert:?}); it may require a \
                             client certificate ({})",
                            hop.client_cert_flags()
                        ),
                    }
                } else {
                    ConnectFailure::ClientCertificateRequired { hop }
                }
            }
            other => ConnectFailure::Handshake {
                detail: format!("the server sent the TLS alert {other:?}"),
            },
        },
        other => ConnectFailure::Handshake {
            detail: other.to_string(),
        },
    }
}

fn reason_phrase(status: u16) -> String {
    ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("unexpected status")
        .to_string()
}

/// Doctor: does the proxy for `target` accept a CONNECT to it? Opens a
/// connection to the proxy (TLS for an `https://` proxy, trusting what the
/// control plane trusts), sends `CONNECT host:port` with the configured Basic
/// credentials, and reads the answer. `Ok(())` also when `target` does not
/// use a proxy (see [`super::ProxySettings::proxy_for`] to tell which).
pub fn check_proxy_connect(target: &str, net: &NetConfig) -> Result<(), NetError> {
    let destination = Destination::parse(target)?;
    let Some(proxy) = net.proxy.proxy_for(&destination)? else {
        return Ok(());
    };
    let label = format!("{}:{}", proxy.host(), proxy.port());
    let fail = |failure| NetError::Connect {
        target: redact_url(target),
        failure,
    };
    let unreachable = |detail: String| {
        fail(ConnectFailure::ProxyUnreachable {
            proxy: label.clone(),
            detail,
        })
    };

    let host = proxy.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let addrs: Vec<_> = (host, proxy.port())
        .to_socket_addrs()
        .map_err(|_| unreachable("its host name does not resolve".to_string()))?
        .collect();
    let mut last_error = "its host name resolves to no address".to_string();
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    let stream = stream.ok_or_else(|| unreachable(last_error))?;
    let timeouts = stream
        .set_read_timeout(Some(DOCTOR_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(DOCTOR_TIMEOUT)));
    timeouts.map_err(|e| unreachable(e.to_string()))?;

    let credentials = (proxy.username().is_some() || proxy.password().is_some()).then(|| {
        let plain = format!(
            "{}:{}",
            proxy.username().unwrap_or_default(),
            proxy.password().unwrap_or_default()
        );
        crate::base64::encode(plain.as_bytes())
    });

    let answer = if proxy.protocol() == ureq::ProxyProtocol::Https {
        let tls = HopTls::build(Hop::ControlPlane, net)?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| unreachable("its host is not a valid TLS server name".to_string()))?;
        let conn =
            ClientConnection::new(tls.proxy, name).map_err(|e| unreachable(format!("TLS: {e}")))?;
        let mut tls_stream = StreamOwned::new(conn, stream);
        connect_exchange(&mut tls_stream, &destination, credentials.as_deref())
    } else {
        let mut stream = stream;
        connect_exchange(&mut stream, &destination, credentials.as_deref())
    };
    match answer {
        Ok(Some(200)) => Ok(()),
        Ok(Some(status)) => Err(fail(ConnectFailure::ProxyRefused {
            proxy: label.clone(),
            status,
            reason: reason_phrase(status),
        })),
        Ok(None) => Err(fail(ConnectFailure::ProxyNoResponse {
            proxy: label.clone(),
        })),
        Err(e) => match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => Err(fail(ConnectFailure::ProxyTls {
                proxy: label.clone(),
                cause: Box::new(describe_rustls(
                    tls,
                    Hop::ControlPlane,
                    &format!("https://{host}/"),
                    false,
                )),
            })),
            None if e.kind() == io::ErrorKind::WouldBlock
                || e.kind() == io::ErrorKind::TimedOut =>
            {
                Err(fail(ConnectFailure::ProxyNoResponse {
                    proxy: label.clone(),
                }))
            }
            None => Err(unreachable(e.to_string())),
        },
    }
}

/// Sends CONNECT and returns the proxy's status code (`None`: no parsable
/// answer before the connection closed or [`MAX_PROXY_RESPONSE_HEAD`]).
fn connect_exchange<S: Read + Write>(
    stream: &mut S,
    destination: &Destination,
    basic_credentials: Option<&str>,
) -> io::Result<Option<u16>> {
    let authority = destination.authority();
    let mut request = format!(
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {}/{}\r\n",
        crate::contract::CLIENT_NAME,
        crate::contract::CLIENT_VERSION
    );
    if let Some(credentials) = basic_credentials {
        request.push_str(&format!("Proxy-Authorization: Basic {credentials}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.flush()?;

    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_PROXY_RESPONSE_HEAD {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
    }
    let status = head
        .split(|b| *b == b'\n')
        .next()
        .and_then(|line| std::str::from_utf8(line).ok())
        .and_then(|line| {
            let mut parts = line.split_whitespace();
            let version = parts.next()?;
            let code = parts.next()?;
            version.starts_with("HTTP/").then_some(())?;
            code.parse::<u16>().ok()
        });
    Ok(status)
}

/// Doctor: DNS, TCP, proxy, TLS with the hop's configured trust and client
/// certificate, then one `GET url` (any HTTP status counts as success: this
/// checks the connection, not the application). For `http://` URLs it checks
/// plain connectivity.
pub fn check_tls_handshake(url: &str, hop: Hop, net: &NetConfig) -> Result<(), NetError> {
    let agent = build_agent(hop, url, net)?;
    let result = agent
        .get(url)
        .config()
        .timeout_global(Some(DOCTOR_TIMEOUT))
        .build()
        .call();
    match result {
        Ok(_) => Ok(()),
        Err(e) => Err(NetError::Connect {
            target: redact_url(url),
            failure: describe_error(&e, hop, url, net),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_tls_failure_keeps_its_cause() {
        let cause = ConnectFailure::UntrustedCertificate {
            hop: Hop::ControlPlane,
        };
        let failure = ConnectFailure::ProxyTls {
            proxy: "proxy.internal:3128".into(),
            cause: Box::new(cause.clone()),
        };
        let source = std::error::Error::source(&failure).and_then(|s| s.downcast_ref());
        assert_eq!(source, Some(&cause));
        let error = NetError::Connect {
            target: "https://cp.example".into(),
            failure: failure.clone(),
        };
        let source = std::error::Error::source(&error).and_then(|s| s.downcast_ref());
        assert_eq!(source, Some(&failure));
        assert!(std::error::Error::source(&cause).is_none());
    }

    fn proxied() -> NetConfig {
        NetConfig {
            proxy: super::super::ProxySettings {
                https_proxy: Some("http://alice:s3cret@proxy.corp:3128".to_string()),
                ..Default::default()
            },
            ..NetConfig::default()
        }
    }

    #[test]
    fn proxy_refusals_say_it_was_the_proxy() {
        for (status, words) in [
            (407, "407 Proxy Authentication Required"),
            (403, "403 Forbidden"),
            (502, "502 Bad Gateway"),
        ] {
            let err = ureq::Error::ConnectProxyFailed(format!(
                "proxy server responded {status}/{status}"
            ));
            let text = describe_error(
                &err,
                Hop::ControlPlane,
                "https://api.example.com",
                &proxied(),
            )
            .to_string();
            assert!(
                text.contains("the proxy proxy.corp:3128 refused the connection"),
                "{text}"
            );
            assert!(text.contains(words), "{text}");
            assert!(
                !text.contains("s3cret") && !text.contains("alice"),
                "{text}"
            );
        }
    }

    #[test]
    fn tls_causes_in_words() {
        let net = NetConfig::default();
        let word = |e: rustls::Error, hop| {
            describe_error(
                &ureq::Error::Rustls(e),
                hop,
                "https://mcp.internal:8443",
                &net,
            )
            .to_string()
        };
        let unknown = word(
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            Hop::ControlPlane,
        );
        assert!(
            unknown.contains("not trusted: add its CA with --ca-bundle"),
            "{unknown}"
        );
        let mcp = word(
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            Hop::Mcp,
        );
        assert!(mcp.contains("--mcp-ca-bundle"), "{mcp}");
        let name = word(
            rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
            Hop::Mcp,
        );
        assert!(
            name.contains("name mismatch") && name.contains("mcp.internal"),
            "{name}"
        );
        let expired = word(
            rustls::Error::InvalidCertificate(CertificateError::Expired),
            Hop::Mcp,
        );
        assert!(expired.contains("expired"), "{expired}");
        let required = word(
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
            Hop::Mcp,
        );
        assert!(required.contains("--mcp-client-cert"), "{required}");
        // Wrapped in io::Error (how a post-handshake alert arrives).
        let io = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(AlertDescription::CertificateRequired),
        );
        let text =
            describe_error(&ureq::Error::Io(io), Hop::ControlPlane, "https://x", &net).to_string();
        assert!(text.contains("--control-plane-cert"), "{text}");
        assert!(
            describe_tls_error(&ureq::Error::HostNotFound, Hop::Mcp, "https://x", &net).is_none()
        );
    }

    #[test]
    fn refused_proxy_is_named_not_the_target() {
        let err = ureq::Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        let text = describe_error(
            &err,
            Hop::ControlPlane,
            "https://api.example.com",
            &proxied(),
        )
        .to_string();
        assert!(
            text.contains("could not reach the proxy proxy.corp:3128"),
            "{text}"
        );
        let direct = describe_error(
            &err,
            Hop::ControlPlane,
            "https://api.example.com",
            &NetConfig::default(),
        )
        .to_string();
        assert!(
            direct.contains("connection refused by api.example.com:443"),
            "{direct}"
        );
    }
}
