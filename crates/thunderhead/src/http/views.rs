//! Wire shapes of the contract's data structures.

use serde::Serialize;

use crate::domain::{Listing, SessionRecord, UserRecord};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub email: String,
    pub staff: bool,
    pub domain: String,
    pub subdomain: Option<String>,
    pub banned_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// Where a user's files are served: from configuration, unless the account brought its own
/// (imported from a Cumulonimbus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directory {
    pub domain: String,
    pub subdomain: Option<String>,
}

impl Directory {
    pub fn user(&self, user: UserRecord) -> UserView {
        UserView {
            id: user.id.to_string(),
            username: user.username,
            email: user.email,
            staff: user.staff,
            subdomain: match &user.domain {
                Some(_) => user.subdomain,
                None => self.subdomain.clone(),
            },
            domain: user.domain.unwrap_or_else(|| self.domain.clone()),
            banned_at: user.banned_at.map(iso8601),
            created_at: iso8601(user.created_at),
            updated_at: iso8601(user.updated_at),
        }
    }

    pub fn users(&self, list: Listing<UserRecord>) -> ListView<UserView> {
        ListView {
            count: list.count,
            items: list.items.into_iter().map(|u| self.user(u)).collect(),
        }
    }
}

/// `2022-11-06T01:12:06.000Z`
/// chrono's RFC 3339 writer rather than `format("%Y-…")`, which parses its pattern on every
/// call: every Session in every response carries one or two of these.
fn iso8601(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Part 1's four fields, then Part 2's (API.md 2.1), which v3 clients ignore.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub iat: i64,
    pub exp: i64,
    pub sub: String,
    pub name: String,
    pub created_at: String,
    pub used_at: Option<String>,
    pub ip: Option<String>,
    pub last_ip: Option<String>,
    pub user_agent: Option<String>,
}

impl From<SessionRecord> for SessionView {
    fn from(s: SessionRecord) -> Self {
        Self {
            iat: s.id.0,
            exp: s.exp,
            sub: s.user_id.to_string(),
            name: s.name,
            created_at: iso8601(s.created_at),
            used_at: s.used_at.map(iso8601),
            ip: s.ip,
            last_ip: s.last_ip,
            user_agent: s.user_agent,
        }
    }
}

#[derive(Serialize)]
pub struct ListView<T> {
    pub count: u64,
    pub items: Vec<T>,
}

impl From<Listing<SessionRecord>> for ListView<SessionView> {
    fn from(list: Listing<SessionRecord>) -> Self {
        Self {
            count: list.count,
            items: list.items.into_iter().map(SessionView::from).collect(),
        }
    }
}

#[derive(Serialize)]
pub struct SuccessfulAuth {
    pub token: String,
    pub exp: i64,
}

#[derive(Serialize)]
pub struct DeleteBulk {
    pub count: u64,
    #[serde(rename = "type")]
    pub kind: &'static str,
}

#[derive(Serialize)]
pub struct Success {
    pub code: &'static str,
    pub message: &'static str,
}

impl Success {
    pub fn new(message: &'static str) -> Self {
        Self {
            code: "GENERIC_SUCCESS",
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_have_milliseconds_and_z() {
        assert_eq!(
            super::iso8601(1_667_697_126_000),
            "2022-11-06T01:12:06.000Z"
        );
        assert_eq!(
            super::iso8601(1_667_697_126_042),
            "2022-11-06T01:12:06.042Z"
        );
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00.000Z");
    }
}
