//! Which address a request comes from: the socket's peer, unless that peer is a trusted proxy,
//! whose `X-Forwarded-For` is then walked from the right (the entries proxies appended)
//! past every trusted proxy; the first address that is not one is the client. Entries to the
//! left of it were written by the client and are never believed.
//!
//! Addresses are canonical: a server listening on `[::]` sees IPv4 peers as
//! `::ffff:a.b.c.d`, which must still match IPv4 trusted networks and be limited as the IPv4
//! address it is.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The client's address, given the peer, the `X-Forwarded-For` values in the order they
/// came, and the trusted proxies.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    // The nearest hop known so far; every step left is one more proxy's word.
    let mut nearest = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_entry(entry) else {
            // Garbage where a trusted proxy should have written an address: trust stops here.
            return nearest;
        };
        if !is_trusted(&ip) {
            return ip;
        }
        nearest = ip;
    }
    nearest
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`,
/// `[2001:db8::1]:443`), canonicalised.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().filter_map(|n| n.parse().ok()).collect()
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_forward() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("203.0.113.7"), ["198.51.100.1"], &trusted),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn the_walk_skips_trusted_hops_from_the_right() {
        let trusted = nets(&["10.0.0.0/8", "192.0.2.0/24"]);
        // client -> 192.0.2.5 (CDN) -> 10.0.0.2 (LB) -> us
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["203.0.113.9, 192.0.2.5"], &trusted),
            ip("203.0.113.9")
        );
        // The same across several header lines.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["203.0.113.9", "192.0.2.5"], &trusted),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn spoofed_left_entries_are_not_believed() {
        let trusted = nets(&["10.0.0.0/8"]);
        // The client sent "1.1.1.1, 10.9.9.9"; the proxy appended the real address.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["1.1.1.1, 10.9.9.9, 203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        // Garbage appended where an address belongs ends the walk at the last trusted hop.
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["1.1.1.1, not-an-ip"], &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn all_trusted_falls_back_to_the_farthest_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(ip("10.0.0.2"), ["10.0.0.9, 10.0.0.3"], &trusted),
            ip("10.0.0.9")
        );
        assert_eq!(
            client_ip(ip("10.0.0.2"), std::iter::empty(), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn mapped_addresses_and_ports_are_canonical() {
        let trusted = nets(&["127.0.0.1/32"]);
        // Listening on [::], an IPv4 proxy arrives mapped; it is still trusted.
        assert_eq!(
            client_ip(ip("::ffff:127.0.0.1"), ["203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("::ffff:198.51.100.3"), std::iter::empty(), &trusted),
            ip("198.51.100.3")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["::ffff:203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["203.0.113.9:5555"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["[2001:db8::1]:443"], &trusted),
            ip("2001:db8::1")
        );
    }
}
