//! `coffer-admin registration-code …`: closed registration
//! (docs/adr/0024-registration-and-operator-access.md). `create` issues a single-use code for a
//! relay with `registration.mode = "invite-only"`; `status` shows the mode, the user cap, the
//! accounts and the open codes (never the codes themselves: the relay keeps only their hashes).

use serde::Deserialize;

/// `POST /api/v1/admin/registration-codes`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistrationCode {
    /// The code, shown once.
    pub code: String,
    /// Its expiry (ISO 8601, UTC).
    pub expires_at: String,
    /// The relay's registration mode.
    pub mode: String,
}

/// `GET /api/v1/admin/registration-codes`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistrationStatus {
    /// `open`, `invite-only` or `closed`.
    pub mode: String,
    /// The user cap, if any.
    pub max_users: Option<u64>,
    /// Accounts held, v1 and v2.
    pub users: u64,
    /// Operator codes neither used nor expired.
    pub open_codes: u64,
}

/// The human output of `registration-code create`.
pub fn created(c: &RegistrationCode) -> String {
    let mut out = format!(
        "{}\n  single use, valid until {}; give it to the person registering (the app or a \
         proxy sends it as X-Registration-Code). It is not shown again.\n",
        c.code, c.expires_at
    );
    if c.mode != "invite-only" {
        out.push_str(&format!(
            "  note: the relay's registration mode is {:?}, so the code is not needed now \
             (set registration.mode = \"invite-only\")\n",
            c.mode
        ));
    }
    out
}

/// The human output of `registration-code status`.
pub fn status(s: &RegistrationStatus) -> String {
    let cap = s
        .max_users
        .map_or_else(|| "no cap".to_owned(), |m| format!("at most {m}"));
    format!(
        "registration: {}\naccounts:     {} ({cap})\nopen codes:   {}\n",
        s.mode, s.users, s.open_codes
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders() {
        let c = RegistrationCode {
            code: "abc".into(),
            expires_at: "2026-01-01T00:00:00+00:00".into(),
            mode: "open".into(),
        };
        let text = created(&c);
        assert!(
            text.starts_with("abc\n") && text.contains("not needed now"),
            "{text}"
        );
        let s = RegistrationStatus {
            mode: "invite-only".into(),
            max_users: Some(5),
            users: 2,
            open_codes: 1,
        };
        assert!(status(&s).contains("2 (at most 5)"), "{}", status(&s));
    }
}
