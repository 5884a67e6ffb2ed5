//! Name resolution for the outbound agents: IP literals without a lookup, host
//! names cached briefly. ureq resolves before every request, pooled or not.
//!
//! ureq's default resolver spawns a thread per lookup whenever a timeout is set
//! (and every request of ours has one), so without this every forwarded call
//! cost a thread start for a name the pool did not even need.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long a successful lookup is reused; DNS changes take effect after this.
pub const DNS_CACHE_TTL: Duration = Duration::from_secs(10);
/// Most host names one agent remembers (an agent talks to one or two hosts).
const DNS_CACHE_ENTRIES: usize = 16;

#[derive(Debug, Default)]
pub struct CachingResolver {
    inner: DefaultResolver,
    cache: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let Some(authority) = uri.authority() else {
            return self.inner.resolve(uri, config, timeout);
        };
        let port = authority.port_u16().or(match uri.scheme_str() {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let host = authority.host();
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let (Ok(ip), Some(port)) = (literal.parse::<IpAddr>(), port) {
            let mut addrs = self.empty();
            addrs.push(SocketAddr::new(ip, port));
            return Ok(addrs);
        }
        let key = authority.as_str().to_ascii_lowercase();
        if let Ok(cache) = self.cache.lock() {
            if let Some((at, addrs)) = cache.get(&key) {
                if at.elapsed() < DNS_CACHE_TTL {
                    return Ok(addrs.clone());
                }
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= DNS_CACHE_ENTRIES {
                cache.retain(|_, (at, _)| at.elapsed() < DNS_CACHE_TTL);
            }
            if cache.len() < DNS_CACHE_ENTRIES {
                cache.insert(key, (Instant::now(), addrs.clone()));
            }
        }
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(r: &CachingResolver, url: &str) -> Vec<SocketAddr> {
        let uri: Uri = url.parse().unwrap();
        let config = Config::default();
        let timeout = NextTimeout {
            after: Duration::from_secs(5).into(),
            reason: ureq::Timeout::Resolve,
            ..NextTimeout::default()
        };
        r.resolve(&uri, &config, timeout).unwrap().to_vec()
    }

    #[test]
    fn literals_need_no_lookup_and_names_are_cached() {
        let r = CachingResolver::default();
        assert_eq!(
            resolve(&r, "http://127.0.0.1:8080/x"),
            vec!["127.0.0.1:8080".parse().unwrap()]
        );
        assert_eq!(
            resolve(&r, "https://[::1]/x"),
            vec!["[::1]:443".parse().unwrap()]
        );
        assert!(r.cache.lock().unwrap().is_empty());
        let first = resolve(&r, "http://localhost:9/");
        assert!(!first.is_empty());
        assert_eq!(r.cache.lock().unwrap().len(), 1);
        assert_eq!(resolve(&r, "http://LOCALHOST:9/"), first);
    }
}
