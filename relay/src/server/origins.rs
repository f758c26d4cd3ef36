//! The origins the relay answers to, and the URLs it prints.
//!
//! A v2 login signs the origin the client dialled (`https://host:port`), so that a login made
//! for one relay cannot be replayed at another. A relay is reached under more than one origin:
//! its configured `public_origins` (behind a proxy, a port forward or a DNS name), the names and
//! addresses in its certificate, loopback, and — listening on a wildcard address at home — each
//! address of the machine's interfaces (a phone dials `https://192.168.1.50:8443`). The accepted
//! set is the union of all of them, fixed at start-up; a login signed for anything else is
//! refused as before. See docs/adr/0014-home-relays-origins.md.
//!
//! What this module must never do: accept an origin the operator did not configure and the
//! machine does not have (no wildcards, no suffix matching), or store the interface addresses
//! (they are printed in the banner and held in memory only).

use std::net::{IpAddr, Ipv6Addr};

/// What the origin set is made from.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// `public_origins`, exactly as configured (`https://host[:port]`).
    pub public_origins: Vec<String>,
    /// `tls.hostnames`: names the operator said the relay has.
    pub hostnames: Vec<String>,
    /// The DNS names and IP addresses in the serving certificate.
    pub cert_names: Vec<String>,
    /// The configured listen address (possibly 0.0.0.0 or ::).
    pub listen: Option<IpAddr>,
    /// The machine's interface addresses (used only when `listen` is a wildcard).
    pub interfaces: Vec<IpAddr>,
    /// The bound port.
    pub port: u16,
}

/// `host` as it appears in a URL: IPv6 addresses bracketed, names lower-cased.
pub fn url_host(host: &str) -> String {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => match bare.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => bare.to_ascii_lowercase(),
        },
    }
}

/// `https://host:port`.
pub fn origin(host: &str, port: u16) -> String {
    format!("https://{}:{port}", url_host(host))
}

/// Whether an address can be put in a URL and dialled from another machine's point of view:
/// not unspecified, not IPv6 link-local (needs a zone id) and not multicast.
fn dialable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_unspecified() && !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => {
            !v6.is_unspecified() && !v6.is_multicast() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

/// The interface addresses a wildcard listener answers on: IPv4 ones for 0.0.0.0, all for ::
/// (Linux binds :: dual-stack by default).
fn wildcard_addresses(listen: IpAddr, interfaces: &[IpAddr]) -> Vec<IpAddr> {
    interfaces
        .iter()
        .copied()
        .filter(|ip| dialable(*ip) && (listen.is_ipv6() || ip.is_ipv4()))
        .collect()
}

impl Reach {
    /// The non-loopback interface addresses a wildcard listener answers on (empty when the
    /// listen address is not a wildcard): the names a generated certificate adds.
    pub fn wildcard_lan_addresses(&self) -> Vec<IpAddr> {
        match self.listen {
            Some(listen) if listen.is_unspecified() => wildcard_addresses(listen, &self.interfaces)
                .into_iter()
                .filter(|ip| !ip.is_loopback())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every address-based URL that reaches the listener, loopback first (so the first is the
    /// one a local tool dials), never `0.0.0.0`/`::`.
    pub fn listen_urls(&self) -> Vec<String> {
        let mut ips: Vec<IpAddr> = match self.listen {
            Some(ip) if ip.is_unspecified() => {
                let mut ips = wildcard_addresses(ip, &self.interfaces);
                ips.sort_by_key(|ip| (!ip.is_loopback(), ip.is_ipv6()));
                if ips.is_empty() {
                    ips.push(IpAddr::from([127, 0, 0, 1]));
                }
                ips
            }
            Some(ip) => vec![ip],
            None => vec![IpAddr::from([127, 0, 0, 1])],
        };
        ips.dedup();
        ips.iter()
            .map(|ip| origin(&ip.to_string(), self.port))
            .collect()
    }

    /// The origins v2 logins may sign for.
    pub fn accepted_origins(&self) -> Vec<String> {
        let mut hosts: Vec<String> = vec!["127.0.0.1".into(), "localhost".into(), "::1".into()];
        hosts.extend(self.hostnames.iter().cloned());
        hosts.extend(self.cert_names.iter().cloned());
        if let Some(listen) = self.listen {
            if listen.is_unspecified() {
                hosts.extend(
                    wildcard_addresses(listen, &self.interfaces)
                        .iter()
                        .map(IpAddr::to_string),
                );
            } else {
                hosts.push(listen.to_string());
            }
        }
        let mut out: Vec<String> = self.public_origins.clone();
        // A wildcard certificate name is no origin anyone dials.
        for host in hosts.into_iter().filter(|h| !h.contains('*')) {
            out.push(origin(&host, self.port));
            if self.port == 443 {
                out.push(format!("https://{}", url_host(&host)));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        out.retain(|o| seen.insert(o.clone()));
        out
    }

    /// The origin for the banner's pairing string (what a phone should dial): the first public
    /// origin, else the first non-loopback configured name, else — on a wildcard — the first
    /// non-loopback interface address (private IPv4 first), else the listen address.
    pub fn pairing_origin(&self) -> String {
        if let Some(origin) = self.public_origins.first() {
            return origin.clone();
        }
        let named = self.hostnames.iter().find(|h| {
            url_host(h)
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .map_or(h.as_str() != "localhost", |ip| !ip.is_loopback())
        });
        if let Some(name) = named {
            return origin(name, self.port);
        }
        if let Some(listen) = self.listen.filter(IpAddr::is_unspecified) {
            let mut lan: Vec<IpAddr> = wildcard_addresses(listen, &self.interfaces)
                .into_iter()
                .filter(|ip| !ip.is_loopback())
                .collect();
            lan.sort_by_key(|ip| (!is_private(*ip), ip.is_ipv6()));
            if let Some(ip) = lan.first() {
                return origin(&ip.to_string(), self.port);
            }
        }
        self.listen_urls()
            .into_iter()
            .next()
            .unwrap_or_else(|| origin("127.0.0.1", self.port))
    }

    /// Configured names (`tls.hostnames`, the hosts of `public_origins`) that the certificate
    /// does not cover.
    pub fn names_missing_from_cert(&self) -> Vec<String> {
        let covered: Vec<String> = self.cert_names.iter().map(|n| url_host(n)).collect();
        let mut missing = Vec::new();
        let wanted = self.hostnames.iter().cloned().chain(
            self.public_origins
                .iter()
                .filter_map(|o| origin_host(o).map(str::to_owned)),
        );
        for name in wanted {
            let host = url_host(&name);
            if !covered.contains(&host) && !missing.contains(&host) {
                missing.push(host);
            }
        }
        missing
    }
}

/// The host of `https://host[:port]`.
fn origin_host(origin: &str) -> Option<&str> {
    let rest = origin.strip_prefix("https://")?;
    if let Some(v6) = rest.strip_prefix('[') {
        return v6.split(']').next();
    }
    rest.split(':').next()
}

/// RFC 1918 / RFC 4193 addresses: what a home LAN hands out.
fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// The machine's interface addresses (empty, with a log line, if they cannot be read).
pub fn interface_addresses() -> Vec<IpAddr> {
    match if_addrs::get_if_addrs() {
        Ok(interfaces) => interfaces.iter().map(if_addrs::Interface::ip).collect(),
        Err(err) => {
            tracing::warn!(%err, "cannot list the network interfaces; only loopback origins from the listen address");
            Vec::new()
        }
    }
}

/// The machine's host name, if it is a usable DNS name (for a generated certificate).
pub fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim().to_ascii_lowercase();
    let valid = !name.is_empty()
        && name != "localhost"
        && rustls::pki_types::ServerName::try_from(name.as_str())
            .is_ok_and(|n| matches!(n, rustls::pki_types::ServerName::DnsName(_)));
    valid.then_some(name)
}

/// The DNS names and IP addresses in a certificate's subjectAltName (lower-cased names); empty
/// when it has none or does not parse (the relay then accepts only its other origins).
pub fn cert_names(cert_der: &[u8]) -> Vec<String> {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(cert_der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            // A wildcard name is no origin anyone dials.
            GeneralName::DNSName(dns) if !dns.contains('*') => Some(dns.to_ascii_lowercase()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes)
                    .ok()
                    .map(|b| IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[cfg(test)]
#[path = "origins_tests.rs"]
mod tests;
