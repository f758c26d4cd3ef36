//! The paging and filter parameters of the admin lists (`/admin/users`, `/admin/volumes`,
//! `/admin/sharing`; v1.md §4, "Coffer's decisions"). Without parameters a list is complete, as
//! the dashboard expects. Unknown, repeated or malformed parameters are refused with 400.

use actix_web::web;

use crate::error::ApiError;
use crate::store::ClientType;
use crate::store::admin_view::{Filter, MAX_PAGE, Page};

/// The parameters a list accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// `/admin/users`: `limit`, `offset`, `protocol`, `client_type`, `user_id`.
    Users,
    /// `/admin/volumes`: those and `volume_name`.
    Volumes,
    /// `/admin/sharing`: `limit`, `offset`, `protocol`, `status`, `user_id` (either side).
    Sharing,
}

impl List {
    /// The parameter names, for the refusal message.
    pub const fn names(self) -> &'static [&'static str] {
        match self {
            Self::Users => &["limit", "offset", "protocol", "client_type", "user_id"],
            Self::Volumes => &[
                "limit",
                "offset",
                "protocol",
                "client_type",
                "user_id",
                "volume_name",
            ],
            Self::Sharing => &["limit", "offset", "protocol", "status", "user_id"],
        }
    }
}

/// Longest `volume_name` filter (longer than any valid name).
pub const MAX_NAME_FILTER: usize = 128;

/// Statuses `/admin/sharing?status=` accepts.
pub const STATUSES: &[&str] = &["pending", "active", "expired", "revoked"];

fn number(name: &str, value: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| ApiError::bad(format!("{name} must be an integer from {min} to {max}")))
}

/// Parses a list's query string.
pub fn parse(list: List, query: &str) -> Result<(Filter, Page), ApiError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query)
        .map_err(|_| ApiError::bad("the query string is malformed"))?
        .into_inner();
    let (mut filter, mut page) = (Filter::default(), Page::default());
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in &pairs {
        let Some(known) = list.names().iter().find(|n| **n == name.as_str()) else {
            return Err(ApiError::bad(format!(
                "unknown query parameter; this list accepts {}",
                list.names().join(", ")
            )));
        };
        if seen.contains(known) {
            return Err(ApiError::bad(format!("{known} is given twice")));
        }
        seen.push(known);
        match *known {
            "limit" => page.limit = Some(number("limit", value, 1, MAX_PAGE)?),
            "offset" => page.offset = number("offset", value, 0, i64::MAX as u64)?,
            "protocol" => {
                filter.protocol = Some(number("protocol", value, 1, 2)? as u8);
            }
            "client_type" => {
                filter.client_type = Some(
                    ClientType::parse(value)
                        .ok_or_else(|| ApiError::bad("client_type must be system or friend"))?,
                );
            }
            "user_id" => {
                let id = uuid::Uuid::parse_str(value)
                    .map_err(|_| ApiError::bad("user_id must be a UUID"))?;
                filter.user_id = Some(id.to_string());
            }
            "volume_name" => {
                if value.is_empty() || value.len() > MAX_NAME_FILTER {
                    return Err(ApiError::bad(format!(
                        "volume_name must have 1 to {MAX_NAME_FILTER} bytes"
                    )));
                }
                filter.volume_name = Some(value.clone());
            }
            _ => {
                if !STATUSES.contains(&value.as_str()) {
                    return Err(ApiError::bad(format!(
                        "status must be one of {}",
                        STATUSES.join(", ")
                    )));
                }
                filter.status = Some(value.clone());
            }
        }
    }
    Ok((filter, page))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn no_parameters_is_the_whole_list() {
        let (filter, page) = parse(List::Users, "").unwrap();
        assert_eq!(page, Page::default());
        assert!(filter.protocol.is_none() && filter.user_id.is_none());
    }

    #[test]
    fn parameters_are_read_and_bounded() {
        let (filter, page) = parse(
            List::Volumes,
            "limit=5&offset=10&protocol=2&client_type=system&volume_name=org.example.notes\
             &user_id=6F1C2A3B-4D5E-4F60-8172-839405A6B7C8",
        )
        .unwrap();
        assert_eq!(
            page,
            Page {
                limit: Some(5),
                offset: 10
            }
        );
        assert_eq!(filter.protocol, Some(2));
        assert_eq!(filter.client_type, Some(ClientType::System));
        assert_eq!(filter.volume_name.as_deref(), Some("org.example.notes"));
        assert_eq!(
            filter.user_id.as_deref(),
            Some("6f1c2a3b-4d5e-4f60-8172-839405a6b7c8")
        );
        for bad in [
            "limit=0",
            "limit=10001",
            "limit=-1",
            "limit=x",
            "offset=-3",
            "protocol=3",
            "client_type=admin",
            "user_id=nope",
            "volume_name=",
            "limit=1&limit=2",
            "status=active",
            "cursor=1",
        ] {
            assert!(parse(List::Volumes, bad).is_err(), "{bad}");
        }
        assert!(parse(List::Users, "volume_name=meta").is_err());
        assert!(parse(List::Sharing, "status=expired&protocol=2").is_ok());
        assert!(parse(List::Sharing, "status=gone").is_err());
    }
}
