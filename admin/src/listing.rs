//! Paging and filter flags of the list commands (`users list`, `volumes`, `sharing`), mapped to
//! the admin API's query parameters (v1.md §4, "Coffer's decisions"). Without flags a command
//! asks for the whole list, as before.

use clap::{Args, ValueEnum};

use crate::model::UserId;

/// Largest `--limit` (the relay refuses larger pages).
pub const MAX_LIMIT: u64 = 10_000;

/// `--client-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientTypeArg {
    /// Systems.
    System,
    /// Friends.
    Friend,
}

/// `--status` of `sharing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// v1 requests awaiting the system; v2 pairings without a grant yet.
    Pending,
    /// Accepted v1 relationships; live v2 grants.
    Active,
    /// v2 grants past their expiry.
    Expired,
    /// v2 grants that cover no volume.
    Revoked,
}

/// Paging: `--limit`, `--offset`.
#[derive(Debug, Clone, Default, Args)]
pub struct PageArgs {
    /// Show at most this many rows (1 to 10000; default: all). The footer says how many match
    /// and the --offset of the next page.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=MAX_LIMIT))]
    pub limit: Option<u64>,
    /// Skip this many rows first (the order is stable: use the previous page's next offset).
    #[arg(long, value_name = "N")]
    pub offset: Option<u64>,
    /// Only protocol v1 (1) or v2 (2) rows.
    #[arg(long, value_name = "1|2", value_parser = clap::value_parser!(u8).range(1..=2))]
    pub protocol: Option<u8>,
}

/// `users list` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct UsersListArgs {
    /// Paging and protocol.
    #[command(flatten)]
    pub page: PageArgs,
    /// Only users of this client type.
    #[arg(long, value_enum)]
    pub client_type: Option<ClientTypeArg>,
    /// Only this user.
    #[arg(long, value_name = "UUID")]
    pub user_id: Option<UserId>,
}

/// `volumes` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct VolumesArgs {
    /// Paging and protocol.
    #[command(flatten)]
    pub page: PageArgs,
    /// Only volumes whose owner has this client type.
    #[arg(long, value_enum)]
    pub client_type: Option<ClientTypeArg>,
    /// Only this owner's volumes.
    #[arg(long, value_name = "UUID")]
    pub user_id: Option<UserId>,
    /// Only volumes of this name (e.g. members, org.example.notes).
    #[arg(long, value_name = "NAME")]
    pub volume_name: Option<String>,
}

/// `sharing` flags.
#[derive(Debug, Clone, Default, Args)]
pub struct SharingArgs {
    /// Paging and protocol.
    #[command(flatten)]
    pub page: PageArgs,
    /// Only relationships of this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Only relationships this user is part of (as system or friend).
    #[arg(long, value_name = "UUID")]
    pub user_id: Option<UserId>,
}

fn client_type(c: ClientTypeArg) -> &'static str {
    match c {
        ClientTypeArg::System => "system",
        ClientTypeArg::Friend => "friend",
    }
}

fn status(s: StatusArg) -> &'static str {
    match s {
        StatusArg::Pending => "pending",
        StatusArg::Active => "active",
        StatusArg::Expired => "expired",
        StatusArg::Revoked => "revoked",
    }
}

impl PageArgs {
    fn pairs(&self, out: &mut Vec<(&'static str, String)>) {
        if let Some(limit) = self.limit {
            out.push(("limit", limit.to_string()));
        }
        if let Some(offset) = self.offset {
            out.push(("offset", offset.to_string()));
        }
        if let Some(protocol) = self.protocol {
            out.push(("protocol", protocol.to_string()));
        }
    }
}

/// Query parameters of a list command; empty without flags.
pub trait Query {
    /// The `(name, value)` pairs, in a fixed order.
    fn query(&self) -> Vec<(&'static str, String)>;
}

impl Query for UsersListArgs {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        self.page.pairs(&mut out);
        if let Some(c) = self.client_type {
            out.push(("client_type", client_type(c).to_owned()));
        }
        if let Some(id) = &self.user_id {
            out.push(("user_id", id.as_str().to_owned()));
        }
        out
    }
}

impl Query for VolumesArgs {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        self.page.pairs(&mut out);
        if let Some(c) = self.client_type {
            out.push(("client_type", client_type(c).to_owned()));
        }
        if let Some(id) = &self.user_id {
            out.push(("user_id", id.as_str().to_owned()));
        }
        if let Some(name) = &self.volume_name {
            out.push(("volume_name", name.clone()));
        }
        out
    }
}

impl Query for SharingArgs {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        self.page.pairs(&mut out);
        if let Some(s) = self.status {
            out.push(("status", status(s).to_owned()));
        }
        if let Some(id) = &self.user_id {
            out.push(("user_id", id.as_str().to_owned()));
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_to_query_parameters() {
        assert!(VolumesArgs::default().query().is_empty());
        let args = VolumesArgs {
            page: PageArgs {
                limit: Some(5),
                offset: Some(10),
                protocol: Some(2),
            },
            client_type: Some(ClientTypeArg::System),
            user_id: Some("3F2504E0-4F89-41D3-9A0C-0305E82C3301".parse().unwrap()),
            volume_name: Some("org.example.notes".into()),
        };
        assert_eq!(
            args.query(),
            vec![
                ("limit", "5".to_owned()),
                ("offset", "10".to_owned()),
                ("protocol", "2".to_owned()),
                ("client_type", "system".to_owned()),
                ("user_id", "3f2504e0-4f89-41d3-9a0c-0305e82c3301".to_owned()),
                ("volume_name", "org.example.notes".to_owned()),
            ]
        );
        let sharing = SharingArgs {
            status: Some(StatusArg::Expired),
            ..SharingArgs::default()
        };
        assert_eq!(sharing.query(), vec![("status", "expired".to_owned())]);
    }
}
