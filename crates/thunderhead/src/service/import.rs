//! Bringing accounts across from a Cumulonimbus (API.md 2.5), for `thunderhead import`: the
//! rules are `domain::import`'s, the writing is the store's; this is the façade's door to both.

use crate::domain::import::ImportedAccount;
use crate::domain::UserId;
use crate::error::ApiResult;
use crate::store::ImportOutcome;

use super::App;

impl App {
    /// Every account made from now on gets an ID above `highest`.
    pub async fn reserve_user_ids(&self, highest: UserId) -> ApiResult<()> {
        Ok(self.store.reserve_user_ids(highest.0).await?)
    }

    /// After the last batch: statistics for the planner, so searches and lists over what was
    /// imported use their indexes at once.
    pub async fn finish_import(&self) -> ApiResult<()> {
        Ok(self.store.refresh_statistics().await?)
    }

    /// Writes one batch of accounts in one transaction; with `dry_run`, works out exactly what
    /// would be written and rolls it back.
    pub async fn import_accounts(
        &self,
        accounts: &[ImportedAccount],
        dry_run: bool,
    ) -> ApiResult<Vec<ImportOutcome>> {
        Ok(self.store.import_accounts(accounts, dry_run).await?)
    }
}
