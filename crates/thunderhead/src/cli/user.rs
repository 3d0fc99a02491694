//! `thunderhead user ...`: account administration straight against the database, through
//! the same service rules as the API.

use std::io::{BufRead, IsTerminal};

use crate::config::Config;
use crate::domain::BanChange;
use crate::error::ApiError;
use crate::server::StartError;
use crate::service::{AccountEdit, App, NewAccount};
use crate::store;

use super::UserCommand;

pub async fn run(config: Config, command: UserCommand) -> Result<(), StartError> {
    let store = store::connect(&config.database_url, &config.pool)
        .await
        .map_err(|e| {
            StartError::Runtime(e.context(format!("cannot open database {}", config.database_url)))
        })?;
    let app = App::for_operator(store, config.hash_cost, None).map_err(StartError::Runtime)?;
    match command {
        UserCommand::Create {
            username,
            email,
            staff,
        } => {
            let password = read_password().map_err(StartError::Settings)?;
            let user = app
                .create_account(NewAccount {
                    username,
                    email,
                    password,
                    staff,
                })
                .await
                .map_err(describe)?;
            println!(
                "created user {} (id {}{})",
                user.username,
                user.id,
                if user.staff { ", staff" } else { "" }
            );
        }
        UserCommand::Staff { name, off } => {
            let user = find(&app, &name).await?;
            let edit = AccountEdit {
                staff: Some(!off),
                ..AccountEdit::default()
            };
            let user = app
                .edit_account(user.id, edit, None)
                .await
                .map_err(describe)?;
            println!(
                "{} (id {}) is {}",
                user.username,
                user.id,
                if user.staff { "staff" } else { "not staff" }
            );
        }
        UserCommand::Ban { name, off } => {
            let user = find(&app, &name).await?;
            let change = if off {
                BanChange::Unban
            } else {
                BanChange::Ban
            };
            let user = app.change_ban(user.id, change).await.map_err(describe)?;
            println!(
                "{} (id {}) is {}",
                user.username,
                user.id,
                if user.banned_at.is_some() {
                    "banned"
                } else {
                    "not banned"
                }
            );
        }
    }
    Ok(())
}

async fn find(app: &App, name: &str) -> Result<crate::domain::UserRecord, StartError> {
    app.find_account(name)
        .await
        .map_err(describe)?
        .ok_or_else(|| StartError::Settings(format!("no user named {name:?}")))
}

fn read_password() -> Result<String, String> {
    let stdin = std::io::stdin();
    let password = if stdin.is_terminal() {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| format!("cannot read password: {e}"))?;
        let again = rpassword::prompt_password("Repeat password: ")
            .map_err(|e| format!("cannot read password: {e}"))?;
        if first != again {
            return Err("the passwords do not match".into());
        }
        first
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read password from standard input: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    };
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(password)
}

/// Turns a service error into words for a terminal.
fn describe(err: ApiError) -> StartError {
    match err {
        ApiError::UserExists => StartError::Settings("that username or email is taken".into()),
        ApiError::MissingFields(fields) => {
            StartError::Settings(format!("invalid {}", fields.join(", ")))
        }
        ApiError::InvalidUser => StartError::Settings("no such user".into()),
        ApiError::Internal(err) => StartError::Runtime(err),
        other => StartError::Runtime(anyhow::anyhow!("{other}")),
    }
}
