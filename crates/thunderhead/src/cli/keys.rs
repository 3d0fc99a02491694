//! `thunderhead keys …` and `thunderhead client …`: the key set and the service clients,
//! straight against the database, through the service façade. Running servers follow a key
//! change within `KEY_REFRESH` and a client change at once.

use crate::config::Config;
use crate::key_file;
use crate::server::StartError;
use crate::service::{App, KeySetError};
use crate::store::{self, Retirement};

use super::{ClientCommand, KeysCommand};

/// The façade with the key file's key as master and the key set opened.
pub(super) async fn operator_app(config: &Config) -> Result<App, StartError> {
    let (master, _) = key_file::load_or_create(&config.key_file)
        .map_err(|e| StartError::Settings(e.to_string()))?;
    let store = store::connect(&config.database_url, &config.pool)
        .await
        .map_err(|e| {
            StartError::Runtime(e.context(format!("cannot open database {}", config.database_url)))
        })?;
    let app =
        App::for_operator(store, config.hash_cost, Some(master)).map_err(StartError::Runtime)?;
    app.open_key_set().await.map_err(key_set_error)?;
    Ok(app)
}

pub(super) fn key_set_error(err: KeySetError) -> StartError {
    match err {
        KeySetError::OtherMaster { .. } | KeySetError::NoMaster => {
            StartError::Settings(err.to_string())
        }
        KeySetError::Failed(err) => StartError::Runtime(anyhow::Error::new(err)),
    }
}

fn internal(err: crate::error::ApiError) -> StartError {
    StartError::Runtime(anyhow::Error::new(err))
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| ms.to_string())
}

pub async fn run_keys(config: Config, command: KeysCommand) -> Result<(), StartError> {
    let app = operator_app(&config).await?;
    match command {
        KeysCommand::List => {
            println!("{:<16}  {:<20}  {:<20}  notes", "kid", "created", "retired");
            for key in app.list_keys().await.map_err(internal)? {
                let mut notes = Vec::new();
                if key.signing {
                    notes.push("signs new tokens");
                }
                if key.legacy {
                    notes.push("verifies tokens without kid");
                }
                println!(
                    "{:<16}  {:<20}  {:<20}  {}",
                    key.kid,
                    when(key.created_at),
                    key.retired_at.map_or_else(|| "-".to_owned(), when),
                    notes.join(", ")
                );
            }
        }
        KeysCommand::Rotate => {
            let kid = app.rotate_key().await.map_err(key_set_error)?;
            println!("{kid}");
            eprintln!(
                "new signing key {kid}; running servers sign with it within {} s. Older keys keep \
                 verifying until you retire them (`thunderhead keys retire KID`).",
                crate::service::KEY_REFRESH.as_secs() * 2
            );
        }
        KeysCommand::Retire { kid } => match app.retire_key(&kid).await.map_err(internal)? {
            Retirement::Retired(_) => eprintln!(
                "retired {kid}: tokens it signed are refused on every server within {} s",
                crate::service::KEY_REFRESH.as_secs() * 2
            ),
            Retirement::NoSuchKey => {
                return Err(StartError::Settings(format!(
                    "no key {kid:?}; see `thunderhead keys list`"
                )))
            }
            Retirement::AlreadyRetired => eprintln!("{kid} was retired already"),
            Retirement::LastKey => {
                return Err(StartError::Settings(format!(
                    "{kid} is the last live key; `thunderhead keys rotate` first"
                )))
            }
        },
    }
    Ok(())
}

pub async fn run_client(config: Config, command: ClientCommand) -> Result<(), StartError> {
    let app = operator_app(&config).await?;
    match command {
        ClientCommand::Create { name } => match app.create_client(&name).await {
            Ok(Some(secret)) => {
                // The secret alone on standard output, so `$(thunderhead client create x)` is it.
                println!("{secret}");
                eprintln!(
                    "created client {name}; the secret above is shown once and stored only as a hash"
                );
            }
            Ok(None) => {
                return Err(StartError::Settings(format!(
                    "a client named {name:?} exists; revoke it first to give it a new secret"
                )))
            }
            Err(crate::error::ApiError::MissingFields(_)) => {
                return Err(StartError::Settings(format!(
                    "{name:?} is not a client name: 1 to 64 of A-Z a-z 0-9 . _ -"
                )))
            }
            Err(err) => return Err(internal(err)),
        },
        ClientCommand::List => {
            println!("{:<24}  {:<20}  revoked", "name", "created");
            for client in app.list_clients().await.map_err(internal)? {
                println!(
                    "{:<24}  {:<20}  {}",
                    client.name,
                    when(client.created_at),
                    client.revoked_at.map_or_else(|| "-".to_owned(), when)
                );
            }
        }
        ClientCommand::Revoke { name } => match app.revoke_client(&name).await.map_err(internal)? {
            Some(_) => eprintln!("revoked client {name}: its secret no longer works"),
            None => {
                return Err(StartError::Settings(format!(
                    "no live client named {name:?}"
                )))
            }
        },
    }
    Ok(())
}
