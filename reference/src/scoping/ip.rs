//! Client IP resolution with trusted proxies (D3), and `scopes.ip_restrictions`.

use std::net::IpAddr;

use ipnet::IpNet;

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(&ip))
}

/// The client's address. `X-Forwarded-For` is believed only when the peer is a trusted proxy;
/// the chain is then read from the right, skipping trusted hops, and the first untrusted entry is
/// the client. A malformed entry stops the walk at the last trusted hop (fail closed).
pub(crate) fn client_ip(peer: IpAddr, forwarded_for: Option<&str>, proxies: &[IpNet]) -> IpAddr {
    if !trusted(peer, proxies) {
        return peer;
    }
    let Some(chain) = forwarded_for else {
        return peer;
    };
    let mut current = peer;
    for entry in chain.rsplit(',') {
        match entry.trim().parse::<IpAddr>() {
            Ok(ip) => {
                current = ip;
                if !trusted(ip, proxies) {
                    return ip;
                }
            }
            Err(_) => return current,
        }
    }
    current
}

/// Whether `ip` satisfies a restriction list of IPs and CIDRs. An empty list allows everyone;
/// an entry that does not parse matches nothing.
pub(crate) fn ip_allowed(restrictions: &[String], ip: IpAddr) -> bool {
    if restrictions.is_empty() {
        return true;
    }
    let ip = ip.to_canonical();
    restrictions.iter().any(|r| {
        let r = r.trim();
        if let Ok(net) = r.parse::<IpNet>() {
            net.contains(&ip)
        } else if let Ok(one) = r.parse::<IpAddr>() {
            one.to_canonical() == ip
        } else {
            false
        }
    })
}

/// Whether `s` is an IP address or CIDR (for validating `POST /tokens`).
pub(crate) fn is_ip_or_cidr(s: &str) -> bool {
    s.parse::<IpNet>().is_ok() || s.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn c_scope_24_restriction_refuses_other_addresses() {
        let r = vec!["10.0.0.0/24".to_owned()];
        assert!(!ip_allowed(&r, ip("127.0.0.1")));
        assert!(ip_allowed(&r, ip("10.0.0.5")));
        assert!(ip_allowed(&["10.0.0.5".to_owned()], ip("10.0.0.5")));
        assert!(ip_allowed(&[], ip("1.2.3.4")));
        assert!(!ip_allowed(&["garbage".to_owned()], ip("1.2.3.4")));
    }

    #[test]
    fn c_scope_25_and_d3_forwarded_for_from_untrusted_peer_is_ignored() {
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("10.0.0.5"), &[]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn d3_forwarded_for_from_trusted_proxy_is_read_from_the_right() {
        let proxies = nets(&["127.0.0.1/32", "192.168.0.0/16"]);
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("10.0.0.5"), &proxies),
            ip("10.0.0.5")
        );
        // A client-supplied leftmost entry cannot override the hop a trusted proxy appended.
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                Some("1.1.1.1, 10.0.0.5, 192.168.1.1"),
                &proxies
            ),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), Some("garbage"), &proxies),
            ip("127.0.0.1")
        );
        assert_eq!(client_ip(ip("127.0.0.1"), None, &proxies), ip("127.0.0.1"));
    }

    #[test]
    fn ipv4_mapped_addresses_match_ipv4_rules() {
        assert!(ip_allowed(
            &["10.0.0.0/8".to_owned()],
            ip("::ffff:10.1.2.3")
        ));
    }
}
