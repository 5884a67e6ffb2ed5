//! Enterprise networks: private CAs, certificate failures, per-hop mutual TLS and CONNECT
//! proxies, against real rustls servers and a real proxy on 127.0.0.1.

mod agent_tls;
mod matrix;
mod proxy;
mod tls;
