//! What an operator reads about a certificate: its names, its validity period, its pin.
//!
//! Certificates are public, so everything here may be printed and logged.

use std::fmt;
use std::net::IpAddr;

use rustls::crypto::ring;
use rustls::sign::CertifiedKey;
use x509_parser::extensions::GeneralName;

use crate::{CertError, SpkiPin, TlsMaterial};

/// The public facts of an end-entity certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject's common name, if it has one.
    pub common_name: Option<String>,
    /// The DNS names and IP addresses of the subject alternative names, as written.
    pub names: Vec<String>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// The SHA-256 SPKI pin.
    pub pin: SpkiPin,
}

impl CertInfo {
    /// The facts of one DER certificate.
    pub fn from_der(cert_der: &[u8]) -> Result<CertInfo, CertError> {
        let pin = SpkiPin::from_cert_der(cert_der)?;
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der).map_err(|e| {
            CertError::InvalidCertificate {
                detail: e.to_string(),
            }
        })?;
        let common_name = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .map(str::to_owned);
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                    GeneralName::IPAddress(bytes) => {
                        if let Ok(b) = <[u8; 4]>::try_from(*bytes) {
                            names.push(IpAddr::from(b).to_string());
                        } else if let Ok(b) = <[u8; 16]>::try_from(*bytes) {
                            names.push(IpAddr::from(b).to_string());
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(CertInfo {
            common_name,
            names,
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            pin,
        })
    }

    /// The facts of a loaded pair's end-entity certificate.
    pub fn of_material(material: &TlsMaterial) -> Result<CertInfo, CertError> {
        let first = material
            .cert_chain
            .first()
            .ok_or_else(|| CertError::InvalidCertificate {
                detail: "empty certificate chain".to_owned(),
            })?;
        CertInfo::from_der(first)
    }

    /// The names to show: the subject alternative names, else the common name.
    pub fn subject_names(&self) -> String {
        if self.names.is_empty() {
            self.common_name.clone().unwrap_or_else(|| "-".to_owned())
        } else {
            self.names.join(", ")
        }
    }

    /// Whether the certificate is valid at `now` (Unix seconds); the reason when it is not.
    pub fn validity_problem(&self, now: i64) -> Option<String> {
        if now > self.not_after {
            Some(format!("expired on {}", UtcTime(self.not_after)))
        } else if now < self.not_before {
            Some(format!("not valid before {}", UtcTime(self.not_before)))
        } else {
            None
        }
    }
}

/// A Unix time shown as `YYYY-MM-DD HH:MM:SS UTC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime(pub i64);

impl fmt::Display for UtcTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        write!(
            f,
            "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

/// A rustls [`CertifiedKey`] of a loaded pair, for a certificate resolver that can swap it
/// (a relay reloading renewed files). The key is checked against the certificate again.
pub fn certified_key(material: &TlsMaterial) -> Result<CertifiedKey, CertError> {
    let provider = ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(material.key.clone_key())
        .map_err(CertError::Tls)?;
    let key = CertifiedKey::new(material.cert_chain.clone(), signing_key);
    match key.keys_match() {
        // `Unknown`: the key type cannot report its public key; rustls accepts that too.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(key),
        Err(e) => Err(CertError::Tls(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_read_as_dates() {
        assert_eq!(UtcTime(0).to_string(), "1970-01-01 00:00:00 UTC");
        assert_eq!(UtcTime(951_782_400).to_string(), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            UtcTime(1_796_601_599).to_string(),
            "2026-12-06 23:59:59 UTC"
        );
        assert_eq!(UtcTime(-1).to_string(), "1969-12-31 23:59:59 UTC");
    }

    #[cfg(feature = "generate")]
    #[test]
    fn a_generated_certificate_is_described() {
        let generated = crate::generate_self_signed(&["relay.example".into(), "10.0.0.1".into()])
            .expect("generate");
        let material = crate::load::material_from_pem(
            generated.cert_pem.as_bytes(),
            std::path::Path::new("c"),
            generated.key_pem.as_bytes(),
            std::path::Path::new("k"),
        )
        .expect("load");
        let info = CertInfo::of_material(&material).expect("info");
        assert_eq!(info.pin, generated.pin);
        assert!(info.names.contains(&"relay.example".to_owned()));
        assert!(info.names.contains(&"10.0.0.1".to_owned()));
        assert_eq!(info.validity_problem(info.not_before + 1), None);
        assert!(
            info.validity_problem(info.not_after + 1)
                .is_some_and(|p| p.starts_with("expired on "))
        );
        certified_key(&material).expect("certified key");
    }
}
