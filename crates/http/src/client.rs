//! Who is asking: the client IP (from the socket, or from `X-Forwarded-For`
//! when the socket is a trusted proxy) and the audit details of a request.

use std::net::IpAddr;
use std::str::FromStr;

use actix_web::HttpRequest;
use actix_web::http::header::USER_AGENT;
use pwreset_domain::ClientInfo;

use crate::correlation::CorrelationId;

/// Longest `User-Agent` kept in the audit trail.
const MAX_USER_AGENT: usize = 256;

/// An IP network, `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr =
            addr.parse().map_err(|_| format!("{s:?} is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a bad prefix length"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` is inside the network. IPv4-mapped IPv6 addresses count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// The client's address: the socket peer, unless the peer is a trusted
    /// proxy, in which case the right-most `X-Forwarded-For` entry that is not
    /// itself a trusted proxy (entries further left are the client's to forge).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.trusts(peer) {
            return Some(peer);
        }
        let forwarded: Vec<IpAddr> = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        Some(
            forwarded
                .iter()
                .rev()
                .copied()
                .find(|ip| !self.trusts(*ip))
                .or(forwarded.first().copied())
                .unwrap_or(peer),
        )
    }
}

/// The audit details of a request.
pub(crate) fn client_info(req: &HttpRequest, ip: Option<IpAddr>, id: CorrelationId) -> ClientInfo {
    ClientInfo {
        ip: ip.map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
        correlation_id: Some(id.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn nets(list: &[&str]) -> TrustedProxies {
        TrustedProxies(list.iter().map(|s| s.parse().unwrap()).collect())
    }

    #[test]
    fn networks() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.9.9.9".parse().unwrap()), "IPv4-mapped");
        let one: IpNet = "192.0.2.1".parse().unwrap();
        assert!(
            one.contains("192.0.2.1".parse().unwrap())
                && !one.contains("192.0.2.2".parse().unwrap())
        );
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!("0.0.0.0/0".parse::<IpNet>().unwrap().contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "example.com", "10.0.0/8", ""] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let req = |peer: &str, xff: Option<&str>| {
            let mut r = TestRequest::default().peer_addr(format!("{peer}:4000").parse().unwrap());
            if let Some(v) = xff {
                r = r.insert_header(("X-Forwarded-For", v));
            }
            r.to_http_request()
        };
        let none = TrustedProxies::default();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            none.client_ip(&req("203.0.113.9", Some("1.2.3.4"))),
            ip("203.0.113.9"),
            "untrusted peer"
        );
        let proxies = nets(&["10.0.0.0/8"]);
        assert_eq!(proxies.client_ip(&req("10.0.0.2", Some("198.51.100.7"))), ip("198.51.100.7"));
        assert_eq!(
            proxies.client_ip(&req("10.0.0.2", Some("6.6.6.6, 198.51.100.7, 10.0.0.5"))),
            ip("198.51.100.7"),
            "the right-most untrusted entry; the forged left one is ignored"
        );
        assert_eq!(proxies.client_ip(&req("10.0.0.2", None)), ip("10.0.0.2"));
        assert_eq!(proxies.client_ip(&req("10.0.0.2", Some("garbage"))), ip("10.0.0.2"));
        assert_eq!(proxies.client_ip(&req("203.0.113.9", Some("198.51.100.7"))), ip("203.0.113.9"));
    }
}
