//! Which IP addresses a callout may connect to: never metadata, link-local,
//! unspecified, multicast, broadcast or IPv4-embedding forms; loopback only for loopback hosts. Pure.

use crate::mcp::harpoon::url::Host;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressProblem {
    /// Metadata, link-local, unspecified, multicast, broadcast, reserved or an
    /// IPv6 form that embeds an IPv4 address.
    Forbidden,
    /// Loopback, reached through a host that is not `localhost` or a loopback literal.
    Loopback,
}

/// `localhost` (any case) or a loopback literal: the only hosts that may reach loopback.
pub fn is_loopback_host(host: &Host) -> bool {
    match host {
        Host::Name(name) => name == "localhost",
        Host::Ip(ip) => ip.is_loopback(),
    }
}

/// Checks one address a connection would go to. `loopback_ok` is
/// [`is_loopback_host`] of the host the address came from.
pub fn vet(ip: IpAddr, loopback_ok: bool) -> Result<(), AddressProblem> {
    match ip {
        IpAddr::V4(v4) => vet_v4(v4, loopback_ok),
        IpAddr::V6(v6) => vet_v6(v6, loopback_ok),
    }
}

/// IPv4 blocks never connected to.
fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0                                   // 0.0.0.0/8 "this network"
        || (a == 169 && b == 254)            // link-local: cloud metadata lives here
        || ip == Ipv4Addr::new(100, 100, 100, 200) // Alibaba Cloud metadata
        || (a == 192 && b == 0 && c == 0)    // IETF protocol block: Oracle's legacy metadata 192.0.0.192
        || ip.is_multicast()                 // 224.0.0.0/4
        || a >= 240 // reserved 240.0.0.0/4, broadcast 255.255.255.255 included
}

fn vet_v4(ip: Ipv4Addr, loopback_ok: bool) -> Result<(), AddressProblem> {
    if forbidden_v4(ip) {
        return Err(AddressProblem::Forbidden);
    }
    if ip.is_loopback() && !loopback_ok {
        return Err(AddressProblem::Loopback);
    }
    Ok(())
}

fn vet_v6(ip: Ipv6Addr, loopback_ok: bool) -> Result<(), AddressProblem> {
    let s = ip.segments();
    if ip.is_loopback() {
        return if loopback_ok {
            Ok(())
        } else {
            Err(AddressProblem::Loopback)
        };
    }
    let forbidden = ip.is_unspecified()
        // ::/96 IPv4-compatible, ::ffff:0:0/96 mapped, ::ffff:0:0:0/96 translated:
        // each reaches an IPv4 address that must not be reached this way.
        || (s[0..5] == [0; 5] && (s[5] == 0 || s[5] == 0xffff))
        || (s[0..4] == [0; 4] && s[4] == 0xffff && s[5] == 0)
        // 64:ff9b::/96 NAT64 and 64:ff9b:1::/48 local-use NAT64.
        || (s[0] == 0x64 && s[1] == 0xff9b && (s[2..6] == [0; 4] || s[2] == 1))
        // 2001::/32 Teredo: tunnels to an IPv4 address.
        || (s[0] == 0x2001 && s[1] == 0)
        // 2002::/16 6to4: judged by the IPv4 address it embeds.
        || (s[0] == 0x2002 && {
            let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
            forbidden_v4(v4) || v4.is_loopback()
        })
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 deprecated site-local
        || ip.is_multicast() // ff00::/8
        || ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254); // AWS metadata over IPv6
    if forbidden {
        return Err(AddressProblem::Forbidden);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, loopback_ok: bool) -> Result<(), AddressProblem> {
        vet(text.parse().unwrap(), loopback_ok)
    }

    /// H11: every address class the rule names, and the forms that smuggle them.
    #[test]
    fn h11_forbidden_addresses() {
        for text in [
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "169.254.0.1",
            "169.254.170.2",
            "100.100.100.200",
            "192.0.0.192",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fd00:ec2::254",
            "ff02::1",
            "ff05::2",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "::169.254.169.254",
            "::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::a9fe:a9fe",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2002:a9fe:a9fe::1",
            "2002:7f00:1::1",
        ] {
            assert_eq!(
                check(text, true),
                Err(AddressProblem::Forbidden),
                "{text} with loopback allowed"
            );
            assert_eq!(check(text, false), Err(AddressProblem::Forbidden), "{text}");
        }
    }

    #[test]
    fn h11_loopback_only_for_loopback_hosts() {
        for text in ["127.0.0.1", "127.9.9.9", "::1"] {
            assert_eq!(check(text, false), Err(AddressProblem::Loopback), "{text}");
            assert_eq!(check(text, true), Ok(()), "{text}");
        }
        assert!(is_loopback_host(&Host::Name("localhost".into())));
        assert!(is_loopback_host(&Host::Ip("127.0.0.2".parse().unwrap())));
        assert!(is_loopback_host(&Host::Ip("::1".parse().unwrap())));
        for name in ["localhost.example", "ip6-localhost", "127-0-0-1.nip.io"] {
            assert!(!is_loopback_host(&Host::Name(name.into())), "{name}");
        }
        assert!(!is_loopback_host(&Host::Ip(
            "::ffff:127.0.0.1".parse().unwrap()
        )));
    }

    #[test]
    fn h11_private_and_public_addresses_pass() {
        for text in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "100.100.100.201",
            "8.8.8.8",
            "192.0.2.1",
            "fd00::1",
            "fd00:ec2::253",
            "fc00::1",
            "2001:db8::1",
            "2606:4700::1111",
            "2002:0a00:0001::1",
        ] {
            assert_eq!(check(text, false), Ok(()), "{text}");
        }
    }
}
