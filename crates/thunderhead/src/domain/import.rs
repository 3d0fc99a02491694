//! The rules for bringing a Cumulonimbus 3 account across (API.md 2.5), as plain functions
//! over a row already read: what is kept, what is refused and why, and what happens to its
//! sessions (expired ones skipped, same-second duplicates merged, malformed ones refused).
//! Reading the source and writing the target are the importer's and the store's business.

use serde_json::Value;

use super::password::is_bcrypt;
use super::{validate, UserId};

/// One row of the original's `"Users"` table, as read. Times are in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct SourceRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub staff: bool,
    pub password: String,
    pub domain: String,
    pub subdomain: Option<String>,
    pub banned_at: Option<i64>,
    /// `sessions` as JSON text (an array of `{iat, exp, name}`), or `None` for SQL NULL.
    pub sessions: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An account ready to be written, with the sessions worth keeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAccount {
    pub id: UserId,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub staff: bool,
    pub banned_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub domain: String,
    pub subdomain: Option<String>,
    pub sessions: Vec<ImportedSession>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedSession {
    pub iat: i64,
    pub exp: i64,
    pub name: String,
}

/// What became of one account's sessions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionTally {
    pub kept: u64,
    pub expired: u64,
    /// Sessions folded into another of the same second (the original's ID collisions).
    pub merged: u64,
    pub malformed: u64,
}

impl std::ops::AddAssign for SessionTally {
    fn add_assign(&mut self, other: Self) {
        self.kept += other.kept;
        self.expired += other.expired;
        self.merged += other.merged;
        self.malformed += other.malformed;
    }
}

/// The longest session name kept (the original had no bound; the API's own names are short).
const MAX_NAME: usize = 512;

/// The account `row` describes, or why it cannot be brought across.
pub fn account_from(
    row: &SourceRow,
    now_s: i64,
) -> Result<(ImportedAccount, SessionTally), String> {
    let id =
        (!row.id.is_empty() && row.id.len() <= 18 && row.id.bytes().all(|b| b.is_ascii_digit()))
            .then(|| UserId::parse(&row.id))
            .flatten()
            .filter(|id| id.0 > 0)
            .ok_or_else(|| format!("id {:?} is not a positive decimal number", row.id))?;
    let username = validate::username(&row.username)
        .ok_or_else(|| format!("username {:?} is not a valid username", row.username))?;
    let email = validate::email(&row.email)
        .ok_or_else(|| format!("email {:?} is not a valid email address", row.email))?;
    if !is_bcrypt(&row.password) {
        return Err("password is not a bcrypt hash".into());
    }
    let (sessions, tally) = sessions_from(row.sessions.as_deref(), now_s);
    Ok((
        ImportedAccount {
            id,
            username,
            email,
            password_hash: row.password.clone(),
            staff: row.staff,
            banned_at: row.banned_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            domain: row.domain.clone(),
            subdomain: row.subdomain.clone().filter(|s| !s.is_empty()),
            sessions,
        },
        tally,
    ))
}

/// The live sessions in `json` (NULL and `[]` are none), newest first, one per second: a
/// duplicate keeps the later expiry, so no token of that second ends sooner than it would have.
pub fn sessions_from(json: Option<&str>, now_s: i64) -> (Vec<ImportedSession>, SessionTally) {
    let mut tally = SessionTally::default();
    let elements = match json.map(serde_json::from_str::<Value>) {
        None | Some(Ok(Value::Null)) => Vec::new(),
        Some(Ok(Value::Array(elements))) => elements,
        Some(_) => {
            tally.malformed += 1;
            Vec::new()
        }
    };
    let mut sessions: Vec<ImportedSession> = Vec::with_capacity(elements.len());
    for element in elements {
        let (Some(iat), Some(exp)) = (element["iat"].as_i64(), element["exp"].as_i64()) else {
            tally.malformed += 1;
            continue;
        };
        if iat <= 0 || exp <= iat {
            tally.malformed += 1;
            continue;
        }
        if exp <= now_s {
            tally.expired += 1;
            continue;
        }
        let name: String = element["name"]
            .as_str()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME)
            .collect();
        sessions.push(ImportedSession { iat, exp, name });
    }
    sessions.sort_by(|a, b| b.iat.cmp(&a.iat).then(b.exp.cmp(&a.exp)));
    let before = sessions.len();
    sessions.dedup_by(|later, kept| later.iat == kept.iat);
    tally.merged = (before - sessions.len()) as u64;
    tally.kept = sessions.len() as u64;
    (sessions, tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> SourceRow {
        SourceRow {
            id: "1667700726000".into(),
            username: "Alice".into(),
            email: "alice@example.com".into(),
            password: "$2a$04$p0Bf9dJiFz.7t.8iJSeX1uv9DMHvmONZm2wj6/lYPTcYjJ8tsJ9i6".into(),
            domain: "alekeagle.me".into(),
            ..SourceRow::default()
        }
    }

    #[test]
    fn a_good_row_keeps_everything() -> Result<(), String> {
        let (account, tally) = account_from(&row(), 1_000)?;
        assert_eq!(account.id, UserId(1_667_700_726_000));
        assert_eq!(account.username, "alice");
        assert_eq!(account.domain, "alekeagle.me");
        assert_eq!(tally, SessionTally::default());
        Ok(())
    }

    #[test]
    fn bad_rows_say_why() {
        for (change, why) in [
            (
                SourceRow {
                    id: "abc".into(),
                    ..row()
                },
                "id",
            ),
            (
                SourceRow {
                    id: "0".into(),
                    ..row()
                },
                "id",
            ),
            (
                SourceRow {
                    username: "no spaces".into(),
                    ..row()
                },
                "username",
            ),
            (
                SourceRow {
                    email: "nope".into(),
                    ..row()
                },
                "email",
            ),
            (
                SourceRow {
                    password: "plain".into(),
                    ..row()
                },
                "bcrypt",
            ),
        ] {
            let refused = account_from(&change, 1_000).err().unwrap_or_default();
            assert!(refused.contains(why), "{refused}");
        }
    }

    #[test]
    fn sessions_are_merged_expired_and_malformed_counted() {
        let json = r#"[
            {"iat": 100, "exp": 5000, "name": "a"},
            {"iat": 100, "exp": 6000, "name": "a again"},
            {"iat": 200, "exp": 900, "name": "expired"},
            {"iat": 300, "exp": 7000},
            "garbage",
            {"iat": "x", "exp": 1}
        ]"#;
        let (sessions, tally) = sessions_from(Some(json), 1_000);
        assert_eq!(
            sessions,
            vec![
                ImportedSession {
                    iat: 300,
                    exp: 7000,
                    name: String::new()
                },
                ImportedSession {
                    iat: 100,
                    exp: 6000,
                    name: "a again".into()
                },
            ]
        );
        assert_eq!(
            tally,
            SessionTally {
                kept: 2,
                expired: 1,
                merged: 1,
                malformed: 2
            }
        );
        assert_eq!(sessions_from(None, 1_000).1, SessionTally::default());
        assert_eq!(sessions_from(Some("[]"), 1_000).1, SessionTally::default());
        assert_eq!(sessions_from(Some("{}"), 1_000).1.malformed, 1);
    }
}
