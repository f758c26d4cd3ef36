//! Self-signed certificate generation for relays without a CA-issued certificate.
//!
//! The certificate only carries the public key that clients pin; its names and dates are
//! conventional values for tools that look at them, not part of the trust decision.

use std::fmt;
use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::ServerName;
use zeroize::Zeroizing;

use crate::{CertError, SpkiPin};

/// Common name of every generated certificate.
pub(crate) const COMMON_NAME: &str = "Coffer relay (self-signed)";

const DAY_SECS: u64 = 24 * 60 * 60;
/// How far back `notBefore` goes, so that clients whose clocks lag still see a valid
/// certificate.
const BACKDATE_SECS: u64 = DAY_SECS;
/// Lifetime after "now": ten years. The pin, not the date, is what clients trust; a relay that
/// changed its key every year would force every client to pair again.
const LIFETIME_SECS: u64 = 3650 * DAY_SECS;
/// 9999-12-31T23:59:59Z, the last instant X.509 (GeneralizedTime) can express.
const MAX_X509_SECS: u64 = 253_402_300_799;

/// A freshly generated self-signed certificate and key, in PEM.
///
/// `Debug` shows the certificate and pin, never the key.
pub struct GeneratedCert {
    /// The certificate (`CERTIFICATE` block).
    pub cert_pem: String,
    /// The ECDSA P-256 private key (PKCS#8 `PRIVATE KEY` block), wiped from memory on drop.
    pub key_pem: Zeroizing<String>,
    /// The certificate's SHA-256 SPKI pin.
    pub pin: SpkiPin,
}

impl fmt::Debug for GeneratedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedCert")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .field("pin", &self.pin)
            .finish()
    }
}

/// Generate a self-signed certificate with a new ECDSA P-256 key.
///
/// Each name that parses as an IP address becomes an IP-address SAN, every other name a DNS
/// SAN (it must be a valid DNS name). The subject CN is `Coffer relay (self-signed)`; the
/// certificate is valid from one day ago (clock skew) until ten years from now, for server
/// authentication only.
///
/// ```
/// let generated = coffer_certs::generate_self_signed(&["relay.example".into(), "192.0.2.7".into()])?;
/// assert!(generated.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// println!("pin: {}", generated.pin); // sha256/...
/// # Ok::<(), coffer_certs::CertError>(())
/// ```
pub fn generate_self_signed(subject_alt_names: &[String]) -> Result<GeneratedCert, CertError> {
    for name in subject_alt_names {
        // rcgen accepts any ASCII string as a DNS name; a typo should fail here, loudly.
        if ServerName::try_from(name.as_str()).is_err() {
            return Err(CertError::InvalidSubjectAltName { name: name.clone() });
        }
    }
    // `CertificateParams::new` makes IP SANs of names that parse as `IpAddr`, DNS SANs of the rest.
    let mut params = CertificateParams::new(subject_alt_names.to_vec())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, COMMON_NAME);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    set_validity(&mut params, SystemTime::now())?;

    // rcgen's default algorithm: ECDSA P-256 with SHA-256.
    let key_pair = KeyPair::generate()?;
    let cert = params.self_signed(&key_pair)?;
    let pin = SpkiPin::from_cert_der(cert.der())?;
    Ok(GeneratedCert {
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key_pair.serialize_pem()),
        pin,
    })
}

/// `notBefore = now - 1 day`, `notAfter = now + 10 years`, refusing clocks that cannot be
/// encoded instead of panicking in date arithmetic.
fn set_validity(params: &mut CertificateParams, now: SystemTime) -> Result<(), CertError> {
    let now_secs = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| CertError::Clock)?
        .as_secs();
    let not_before = now_secs
        .checked_sub(BACKDATE_SECS)
        .ok_or(CertError::Clock)?;
    let not_after = now_secs
        .checked_add(LIFETIME_SECS)
        .filter(|&t| t <= MAX_X509_SECS)
        .ok_or(CertError::Clock)?;
    // Both offsets are at most MAX_X509_SECS, so the additions cannot overflow.
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + Duration::from_secs(not_before);
    params.not_after = epoch + Duration::from_secs(not_after);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData as _;
    use rustls_pki_types::pem::PemObject as _;
    use x509_parser::extensions::GeneralName;

    fn sans(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn pin_from_cert_equals_pin_of_the_keys_public_key() {
        let generated = generate_self_signed(&sans(&["relay.test"])).expect("generate");
        let key = KeyPair::from_pem(&generated.key_pem).expect("own key parses");
        assert_eq!(key.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
        let from_key = SpkiPin::from_spki_der(&key.subject_public_key_info());
        assert_eq!(generated.pin, from_key);

        let der = rustls_pki_types::CertificateDer::from_pem_slice(generated.cert_pem.as_bytes())
            .expect("own cert parses");
        assert_eq!(SpkiPin::from_cert_der(&der).expect("pin"), from_key);
    }

    #[test]
    fn every_call_makes_a_new_key() {
        let a = generate_self_signed(&[]).expect("generate");
        let b = generate_self_signed(&[]).expect("generate");
        assert_ne!(a.pin, b.pin);
        assert_ne!(*a.key_pem, *b.key_pem);
    }

    #[test]
    fn names_dates_and_usage() {
        let before = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let generated =
            generate_self_signed(&sans(&["relay.test", "192.0.2.7", "::1", "localhost"]))
                .expect("generate");
        let der = rustls_pki_types::CertificateDer::from_pem_slice(generated.cert_pem.as_bytes())
            .expect("cert");
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");

        let cn: Vec<_> = cert
            .subject()
            .iter_common_name()
            .map(|cn| cn.as_str().expect("utf8").to_owned())
            .collect();
        assert_eq!(cn, [COMMON_NAME]);

        let san = cert
            .subject_alternative_name()
            .expect("well-formed")
            .expect("present");
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => ips.push(ip.to_vec()),
                other => panic!("unexpected SAN {other:?}"),
            }
        }
        assert_eq!(dns, ["relay.test", "localhost"]);
        let mut v6_loopback = [0u8; 16];
        v6_loopback[15] = 1;
        assert_eq!(ips, [vec![192, 0, 2, 7], v6_loopback.to_vec()]);

        let not_before = u64::try_from(cert.validity().not_before.timestamp()).expect("positive");
        let not_after = u64::try_from(cert.validity().not_after.timestamp()).expect("positive");
        // Bracket the generation between two clock readings (no fixed time budget).
        let after = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        assert!(not_before + DAY_SECS >= before && not_before + DAY_SECS <= after);
        assert!(not_after >= before + LIFETIME_SECS && not_after <= after + LIFETIME_SECS);

        let eku = cert
            .extended_key_usage()
            .expect("well-formed")
            .expect("present");
        assert!(eku.value.server_auth);
        assert!(!eku.value.client_auth);
        assert!(!cert.is_ca());
    }

    #[test]
    fn rejects_names_that_are_neither_ip_nor_dns() {
        for bad in [
            "",
            "has space.example",
            "relay.test/path",
            "ünïcode.example",
        ] {
            let err = generate_self_signed(&sans(&["ok.example", bad])).expect_err(bad);
            assert!(
                matches!(&err, CertError::InvalidSubjectAltName { name } if name == bad),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn validity_refuses_unencodable_clocks() {
        let mut params = CertificateParams::default();
        let too_late = SystemTime::UNIX_EPOCH + Duration::from_secs(MAX_X509_SECS);
        assert!(matches!(
            set_validity(&mut params, too_late),
            Err(CertError::Clock)
        ));
        let too_early = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        assert!(matches!(
            set_validity(&mut params, too_early),
            Err(CertError::Clock)
        ));
        let fine = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        set_validity(&mut params, fine).expect("2027 is fine");
        let epoch = rcgen::date_time_ymd(1970, 1, 1);
        assert_eq!(
            params.not_before,
            epoch + Duration::from_secs(1_800_000_000 - DAY_SECS)
        );
        assert_eq!(
            params.not_after,
            epoch + Duration::from_secs(1_800_000_000 + LIFETIME_SECS)
        );
    }

    #[test]
    fn debug_redacts_the_key() {
        let generated = generate_self_signed(&sans(&["relay.test"])).expect("generate");
        let debug = format!("{generated:?}");
        assert!(debug.contains("<redacted>"));
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");
        for line in generated
            .key_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
        {
            assert!(!debug.contains(line), "key line leaked: {debug}");
        }
        assert!(debug.contains(&generated.pin.to_string()));
    }
}
