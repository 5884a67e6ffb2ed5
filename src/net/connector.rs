//! The TLS step of every agent's connector chain: rustls over whatever
//! TcpConnector or the CONNECT tunnel produced, with our own `ClientConfig`.
//! Must never offer the hop's client certificate to a host other than the
//! agent's destination (an https:// proxy gets the anonymous configuration).
//!
//! ureq's stable TLS options can only *replace* the roots; "web roots plus a
//! bundle" needs this connector (`ureq::unversioned`, hence `ureq = "~3.5"`).
//! It mirrors ureq 3.5's own `RustlsConnector`, minus its panics.

use super::proxy::Destination;
use super::tls::HopTls;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};
use std::fmt;
use std::io::{self, Read, Write};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// Wraps `https` connections in TLS; passes everything else through.
#[derive(Debug)]
pub(crate) struct TlsConnector {
    /// The agent's own origin: the only one shown the client certificate.
    destination: Destination,
    /// `(host, port)` of an https:// proxy, to use the proxy configuration
    /// and to say "the proxy" when its TLS fails.
    proxy: Option<(String, u16)>,
    tls: HopTls,
}

impl TlsConnector {
    pub(crate) fn new(destination: Destination, proxy: Option<&ureq::Proxy>, tls: HopTls) -> Self {
        let proxy = proxy.map(|p| (bare_host(p.host()), p.port()));
        TlsConnector {
            destination,
            proxy,
            tls,
        }
    }
}

/// Lower case, no IPv6 brackets, no trailing dot.
fn bare_host(host: &str) -> String {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// A TLS failure with the https:// proxy itself (not the destination), kept
/// apart so [`super::describe_error`] can say it was the proxy.
#[derive(Debug)]
pub(crate) struct ProxyTlsError(pub rustls::Error);

impl fmt::Display for ProxyTlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS with the proxy failed: {}", self.0)
    }
}

impl std::error::Error for ProxyTlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        // Plain http, or TLS already done (never for us: the CONNECT tunnel
        // reports itself as not-TLS, so a target behind an https proxy still
        // gets its own TLS session).
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }

        let uri = details.uri;
        let host = uri
            .host()
            .map(bare_host)
            .ok_or(ureq::Error::Tls("the URL has no host to verify"))?;
        let port = uri.port_u16().unwrap_or(443);
        let own_origin = self.destination.https
            && host == self.destination.host
            && port == self.destination.port;
        let to_proxy = !own_origin
            && self
                .proxy
                .as_ref()
                .is_some_and(|(h, p)| *h == host && *p == port);
        let config = if own_origin {
            self.tls.identified.clone()
        } else if to_proxy {
            self.tls.proxy.clone()
        } else {
            self.tls.anonymous.clone()
        };
        let blame = |e: ureq::Error| match e {
            ureq::Error::Rustls(tls) if to_proxy => {
                ureq::Error::Other(Box::new(ProxyTlsError(tls)))
            }
            other => other,
        };

        let name = ServerName::try_from(host)
            .map_err(|_| ureq::Error::Tls("the host is not a valid TLS server name"))?;
        let mut conn =
            ClientConnection::new(config, name).map_err(|e| blame(ureq::Error::Rustls(e)))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)
            .map_err(|e| blame(to_ureq_error(e)))?;
        log::debug!(
            "TLS established with {}:{port}{}",
            uri.host().unwrap_or_default(),
            if own_origin && self.tls.presents_client_cert() {
                " (client certificate offered)"
            } else {
                ""
            }
        );

        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(conn, sock),
        })))
    }
}

/// Keeps rustls' own error (certificate problems, alerts) visible to
/// [`super::describe_error`] instead of burying it inside `Error::Io`.
fn to_ureq_error(e: io::Error) -> ureq::Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => ureq::Error::Rustls(tls.clone()),
        None => ureq::Error::from(e),
    }
}

/// A TLS session over a chained transport.
pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output).map_err(to_ureq_error)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input).map_err(to_ureq_error)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport")
            .field("chained", &self.stream.sock.inner())
            .finish()
    }
}
