//! One storage story, run against whichever backend the environment selects (SQLite, or
//! PostgreSQL with TEST_DATABASE_URL): the trait's promises, without HTTP in the way.

use std::sync::Arc;

use futures::future::join_all;
use thunderhead::domain::BanChange;
use thunderhead::store::NewLogin;

/// A sign-in at `now_s` for `lifetime_s`, without an address or a cap.
fn login(now_s: i64, lifetime_s: i64, name: &str) -> NewLogin<'_> {
    NewLogin {
        now_ms: now_s * 1000,
        lifetime_s,
        name,
        ip: None,
        user_agent: None,
        keep_at_most: None,
    }
}
use thunderhead::domain::{Page, SessionId, UserId};
use thunderhead::store::{
    Lookup, NewUser, PasswordChange, PoolSettings, Store, StoreError, UserChanges,
};

use crate::helpers::{TestDb, TestResult};

const NOW_MS: i64 = 1_700_000_000_000;
const NOW: i64 = NOW_MS / 1000;
const PAGE: Page = Page {
    limit: 50,
    offset: 0,
};

fn new_user(name: &str) -> NewUser {
    NewUser {
        username: name.into(),
        email: format!("{name}@Example.com"),
        password_hash: "hash".into(),
        staff: false,
    }
}

#[tokio::test]
async fn users_story() -> TestResult {
    let (_db, store) = TestDb::open(&PoolSettings::default()).await?;
    let alice = store.create_user(&new_user("alice"), NOW_MS).await?;
    assert_eq!(
        (alice.username.as_str(), alice.staff, alice.banned_at),
        ("alice", false, None)
    );
    assert!(matches!(
        store.create_user(&new_user("alice"), NOW_MS).await,
        Err(StoreError::Conflict)
    ));
    let mut same_email = new_user("other");
    same_email.email = "ALICE@example.com".into();
    assert!(matches!(
        store.create_user(&same_email, NOW_MS).await,
        Err(StoreError::Conflict)
    ));
    let bob = store.create_user(&new_user("bob"), NOW_MS + 1).await?;
    assert_eq!(
        store.user_by_username("bob").await?.map(|u| u.id),
        Some(bob.id)
    );
    assert_eq!(store.user_by_id(UserId(9999)).await?, None);
    let list = store.list_users(PAGE).await?;
    assert_eq!(list.count, 2);
    assert_eq!(
        list.items.iter().map(|u| u.id).collect::<Vec<_>>(),
        [bob.id, alice.id]
    );

    let changes = UserChanges {
        staff: Some(true),
        email: Some("new@example.com".into()),
        ..UserChanges::default()
    };
    let updated = store
        .update_user(alice.id, &changes, NOW_MS + 5)
        .await?
        .ok_or("alice vanished")?;
    assert!(updated.staff);
    assert_eq!(updated.email, "new@example.com");
    assert_eq!(updated.updated_at, NOW_MS + 5);
    assert_eq!(updated.password_hash, "hash", "untouched fields stay");
    let clash = UserChanges {
        username: Some("bob".into()),
        ..UserChanges::default()
    };
    assert!(matches!(
        store.update_user(alice.id, &clash, NOW_MS).await,
        Err(StoreError::Conflict)
    ));

    let banned = store
        .change_ban(bob.id, BanChange::Toggle, NOW_MS + 9)
        .await?
        .ok_or("bob")?;
    assert_eq!(banned.banned_at, Some(NOW_MS + 9));
    let still = store
        .change_ban(bob.id, BanChange::Ban, NOW_MS + 20)
        .await?
        .ok_or("bob")?;
    assert_eq!(
        still.banned_at,
        Some(NOW_MS + 9),
        "banning a banned user keeps the first time"
    );
    let lifted = store
        .change_ban(bob.id, BanChange::Toggle, NOW_MS)
        .await?
        .ok_or("bob")?;
    assert_eq!(lifted.banned_at, None);
    assert_eq!(
        store
            .change_ban(UserId(9999), BanChange::Ban, NOW_MS)
            .await?,
        None
    );

    store.create_session(bob.id, &login(NOW, 100, "s")).await?;
    assert_eq!(store.delete_user(bob.id).await?.map(|u| u.id), Some(bob.id));
    assert_eq!(
        store.list_sessions(bob.id, NOW, PAGE).await?,
        None,
        "no such user any more"
    );
    assert_eq!(
        store.session(bob.id, SessionId(NOW), NOW).await?,
        Lookup::NoUser,
        "and no session of theirs"
    );
    assert_eq!(store.delete_users(&[alice.id, UserId(9999)]).await?, 1);
    assert_eq!(store.delete_users(&[]).await?, 0);
    let carol = store.create_user(&new_user("carol"), NOW_MS).await?;
    assert!(carol.id > bob.id, "IDs are never reused");
    Ok(())
}

#[tokio::test]
async fn sessions_story() -> TestResult {
    let (_db, store) = TestDb::open(&PoolSettings::default()).await?;
    let user = store.create_user(&new_user("alice"), NOW_MS).await?.id;
    let other = store.create_user(&new_user("bob"), NOW_MS).await?.id;
    assert_eq!(
        store
            .create_session(UserId(9999), &login(NOW, 100, "x"))
            .await?,
        None
    );
    let mut ids = Vec::new();
    for i in 0..5 {
        let s = store
            .create_session(user, &login(NOW, 100 + i, &format!("s{i}")))
            .await?
            .ok_or("no session")?;
        ids.push(s.id);
    }
    assert_eq!(
        ids,
        (0..5).map(|i| SessionId(NOW + i)).collect::<Vec<_>>(),
        "same-second logins get the next free IDs"
    );
    let short = store
        .create_session(user, &login(NOW, 10, "short"))
        .await?
        .ok_or("no session")?;
    assert_eq!(short.id, SessionId(NOW + 5));
    let auth = store
        .authenticate(user, ids[0], NOW)
        .await?
        .ok_or("not authenticated")?;
    assert_eq!(
        (auth.session.name.as_str(), auth.staff, auth.banned_at),
        ("s0", false, None)
    );
    assert_eq!(
        store.authenticate(other, ids[0], NOW).await?,
        None,
        "sessions belong to their user"
    );

    let page = store
        .list_sessions(
            user,
            NOW,
            Page {
                limit: 2,
                offset: 1,
            },
        )
        .await?
        .ok_or("no such user")?;
    assert_eq!(page.count, 6);
    assert_eq!(
        page.items.iter().map(|s| s.id).collect::<Vec<_>>(),
        [ids[4], ids[3]]
    );
    // After `short` expires it is neither listed, counted, found nor deletable. Its ID is
    // a few seconds past NOW (five sessions came first), and it lasts 10 s from its ID.
    let later = NOW + 20;
    assert_eq!(
        store
            .list_sessions(user, later, PAGE)
            .await?
            .ok_or("no such user")?
            .count,
        5
    );
    assert_eq!(store.session(user, short.id, later).await?.found(), None);
    assert_eq!(store.authenticate(user, short.id, later).await?, None);
    assert_eq!(
        store.revoke_session(user, short.id, later).await?.found(),
        None
    );
    assert_eq!(store.prune_expired(later, 1000).await?, 1);
    assert_eq!(store.prune_expired(later, 1000).await?, 0);

    assert_eq!(
        store
            .revoke_session(user, ids[0], NOW)
            .await?
            .found()
            .map(|s| s.id),
        Some(ids[0])
    );
    assert_eq!(
        store
            .revoke_sessions(user, &[ids[1], ids[2], SessionId(1)], NOW)
            .await?
            .ok_or("no such user")?,
        2
    );
    assert_eq!(
        store
            .revoke_sessions(other, &[ids[3]], NOW)
            .await?
            .ok_or("no such user")?,
        0,
        "only the named user's"
    );
    assert_eq!(
        store
            .revoke_all_sessions(user, Some(ids[4]), NOW)
            .await?
            .ok_or("no such user")?,
        1
    );
    assert_eq!(
        store
            .list_sessions(user, NOW, PAGE)
            .await?
            .ok_or("no such user")?
            .items
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        [ids[4]]
    );
    assert_eq!(
        store
            .revoke_all_sessions(user, None, NOW)
            .await?
            .ok_or("no such user")?,
        1
    );
    // IDs keep climbing after everything was revoked: a revoked token never comes back.
    let next = store
        .create_session(user, &login(NOW, 100, "again"))
        .await?
        .ok_or("no session")?;
    assert_eq!(next.id, SessionId(NOW + 6));
    // A later second starts from the clock again.
    let future = store
        .create_session(user, &login(NOW + 1000, 100, "later"))
        .await?
        .ok_or("no session")?;
    assert_eq!(future.id, SessionId(NOW + 1000));
    Ok(())
}

#[tokio::test]
async fn password_change_ends_other_sessions_atomically() -> TestResult {
    let (_db, store) = TestDb::open(&PoolSettings::default()).await?;
    let user = store.create_user(&new_user("alice"), NOW_MS).await?.id;
    let keep = store
        .create_session(user, &login(NOW, 100, "keep"))
        .await?
        .ok_or("no session")?
        .id;
    store
        .create_session(user, &login(NOW, 100, "other"))
        .await?;
    let change = UserChanges {
        password: Some(PasswordChange {
            hash: "new".into(),
            keep: Some(keep),
        }),
        ..UserChanges::default()
    };
    let updated = store
        .update_user(user, &change, NOW_MS)
        .await?
        .ok_or("gone")?;
    assert_eq!(updated.password_hash, "new");
    let left = store
        .list_sessions(user, NOW, PAGE)
        .await?
        .ok_or("no such user")?;
    assert_eq!(left.items.iter().map(|s| s.id).collect::<Vec<_>>(), [keep]);
    let change = UserChanges {
        password: Some(PasswordChange {
            hash: "newer".into(),
            keep: None,
        }),
        ..UserChanges::default()
    };
    store.update_user(user, &change, NOW_MS).await?;
    assert_eq!(
        store
            .list_sessions(user, NOW, PAGE)
            .await?
            .ok_or("no such user")?
            .count,
        0
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_session_creation_never_repeats_an_id() -> TestResult {
    let (_db, store) = TestDb::open(&PoolSettings {
        max_connections: 16,
        ..PoolSettings::default()
    })
    .await?;
    let user = store.create_user(&new_user("alice"), NOW_MS).await?.id;
    let store: Arc<dyn Store> = store;
    let created = join_all((0..200).map(|_| {
        let store = store.clone();
        async move { store.create_session(user, &login(NOW, 100, "burst")).await }
    }))
    .await;
    let mut ids: Vec<i64> = Vec::new();
    for result in created {
        ids.push(result?.ok_or("no session")?.id.0);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 200);
    assert_eq!(
        store
            .list_sessions(user, NOW, PAGE)
            .await?
            .ok_or("no such user")?
            .count,
        200
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limit_windows_take_atomically_and_give_back() -> TestResult {
    let (_db, store) = TestDb::open(&PoolSettings {
        max_connections: 16,
        ..PoolSettings::default()
    })
    .await?;
    assert_eq!(
        store.take_hit("k", 2, 1000, NOW_MS).await?,
        (1, NOW_MS + 1000)
    );
    assert_eq!(
        store.take_hit("k", 2, 1000, NOW_MS + 500).await?,
        (2, NOW_MS + 1000),
        "same window"
    );
    assert_eq!(
        store.take_hit("k", 2, 1000, NOW_MS + 500).await?,
        (3, NOW_MS + 1000),
        "full: the limit plus one marks it"
    );
    assert_eq!(
        store.take_hit("k", 2, 1000, NOW_MS + 600).await?.0,
        3,
        "a refused hit takes nothing"
    );
    store.give_back_hit("k", 2, NOW_MS + 1000).await?;
    assert_eq!(
        store.take_hit("k", 2, 1000, NOW_MS + 700).await?.0,
        2,
        "the given-back hit is free again"
    );
    store.give_back_hit("k", 2, NOW_MS + 999).await?;
    assert_eq!(
        store.take_hit("k", 2, 1000, NOW_MS + 800).await?.0,
        3,
        "a hit of another window is not given back"
    );
    assert_eq!(
        store.take_hit("k", 2, 1000, NOW_MS + 1000).await?,
        (1, NOW_MS + 2000),
        "a new window"
    );
    // 100 takes at once from many connections (instances): exactly the limit pass.
    let store: Arc<dyn Store> = store;
    let hits = join_all((0..100).map(|_| {
        let store = store.clone();
        async move { store.take_hit("burst", 10, 60_000, NOW_MS).await }
    }))
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    assert_eq!(hits.iter().filter(|(n, _)| *n <= 10).count(), 10);
    assert_eq!(store.take_hit("burst", 10, 60_000, NOW_MS).await?.0, 11);
    assert_eq!(store.prune_rate_limits(NOW_MS + 60_000).await?, 2);
    assert_eq!(
        store
            .take_hit("burst", 10, 60_000, NOW_MS + 60_000)
            .await?
            .0,
        1
    );
    Ok(())
}

#[tokio::test]
async fn revoke_all_is_immediate_and_the_rows_are_purged_later() -> TestResult {
    let (_db, store) = TestDb::open(&PoolSettings::default()).await?;
    let user = store.create_user(&new_user("alice"), NOW_MS).await?.id;
    let other = store.create_user(&new_user("bob"), NOW_MS).await?.id;
    let bobs = store
        .create_session(other, &login(NOW, 100, "bob"))
        .await?
        .ok_or("no session")?
        .id;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(
            store
                .create_session(user, &login(NOW, 100, "s"))
                .await?
                .ok_or("no session")?
                .id,
        );
    }
    let kept = ids[5];
    assert_eq!(
        store
            .revoke_all_sessions(user, Some(kept), NOW)
            .await?
            .ok_or("no such user")?,
        9
    );
    let list = store
        .list_sessions(user, NOW, PAGE)
        .await?
        .ok_or("no such user")?;
    assert_eq!(
        (
            list.count,
            list.items.iter().map(|s| s.id).collect::<Vec<_>>()
        ),
        (1, vec![kept])
    );
    for id in &ids {
        let alive = store.authenticate(user, *id, NOW).await?.is_some();
        assert_eq!(alive, *id == kept, "session {id:?}");
        assert_eq!(
            store.session(user, *id, NOW).await?.found().is_some(),
            *id == kept
        );
    }
    assert_eq!(
        store
            .revoke_sessions(user, &ids[..5], NOW)
            .await?
            .ok_or("no such user")?,
        0,
        "revoked rows cannot be deleted twice"
    );
    assert_eq!(store.revoke_session(user, ids[0], NOW).await?.found(), None);
    // The rows go in batches, sparing the kept session and other users.
    assert_eq!(store.purge_revoked(4).await?, Some(4));
    assert_eq!(store.purge_revoked(4).await?, Some(4));
    assert_eq!(store.purge_revoked(4).await?, Some(1));
    assert_eq!(store.purge_revoked(4).await?, None);
    assert_eq!(
        store
            .list_sessions(user, NOW, PAGE)
            .await?
            .ok_or("no such user")?
            .count,
        1
    );
    assert!(store.authenticate(other, bobs, NOW).await?.is_some());
    // New sessions count and list as usual; a second revoke-all drops the kept one too.
    let fresh = store
        .create_session(user, &login(NOW, 100, "fresh"))
        .await?
        .ok_or("no session")?
        .id;
    assert_eq!(
        store
            .list_sessions(user, NOW, PAGE)
            .await?
            .ok_or("no such user")?
            .count,
        2
    );
    assert_eq!(
        store
            .revoke_all_sessions(user, None, NOW)
            .await?
            .ok_or("no such user")?,
        2
    );
    assert_eq!(store.authenticate(user, kept, NOW).await?, None);
    assert_eq!(store.authenticate(user, fresh, NOW).await?, None);
    assert_eq!(
        store
            .list_sessions(user, NOW, PAGE)
            .await?
            .ok_or("no such user")?
            .count,
        0
    );
    assert_eq!(
        store.revoke_all_sessions(UserId(9999), None, NOW).await?,
        None
    );
    Ok(())
}

#[tokio::test]
async fn counts_leave_out_expired_sessions_before_and_after_pruning() -> TestResult {
    let (_db, store) = TestDb::open(&PoolSettings::default()).await?;
    let user = store.create_user(&new_user("alice"), NOW_MS).await?.id;
    for lifetime in [10, 10, 10, 1000] {
        store
            .create_session(user, &login(NOW, lifetime, "s"))
            .await?;
    }
    // The IDs are NOW..NOW+3; each lasts its lifetime from its ID.
    let later = NOW + 20;
    assert_eq!(
        store
            .list_sessions(user, later, PAGE)
            .await?
            .ok_or("no such user")?
            .count,
        1,
        "expired, not yet pruned"
    );
    // Revoking all counts only what was live.
    let keep = store
        .list_sessions(user, later, PAGE)
        .await?
        .ok_or("no such user")?
        .items[0]
        .id;
    store.create_session(user, &login(later, 1000, "t")).await?;
    assert_eq!(
        store
            .revoke_all_sessions(user, Some(keep), later)
            .await?
            .ok_or("no such user")?,
        1
    );
    assert_eq!(
        store
            .list_sessions(user, later, PAGE)
            .await?
            .ok_or("no such user")?
            .count,
        1
    );
    let mut pruned = 0;
    loop {
        match store.prune_expired(later, 2).await? {
            0 => break,
            n => pruned += n,
        }
    }
    assert_eq!(pruned, 3);
    assert_eq!(
        store
            .list_sessions(user, later, PAGE)
            .await?
            .ok_or("no such user")?
            .count,
        1
    );
    while store.purge_revoked(1000).await?.is_some() {}
    let list = store
        .list_sessions(user, later, PAGE)
        .await?
        .ok_or("no such user")?;
    assert_eq!((list.count, list.items.len()), (1, 1));
    Ok(())
}

/// An in-memory SQLite database has no file for the in-place readers, so every read goes
/// through the pool: the same statements PostgreSQL runs, in SQLite's dialect.
#[tokio::test]
async fn in_memory_sqlite_lists_through_the_pool() -> TestResult {
    let pool = PoolSettings {
        max_connections: 1,
        ..PoolSettings::default()
    };
    let store = thunderhead::store::SqliteStore::connect("sqlite::memory:", &pool).await?;
    let user = store.create_user(&new_user("alice"), NOW_MS).await?.id;
    assert_eq!(
        store
            .list_sessions(user, NOW, PAGE)
            .await?
            .ok_or("no such user")?
            .count,
        0,
        "an empty page still counts"
    );
    for lifetime in [5, 100, 100] {
        store
            .create_session(user, &login(NOW, lifetime, "s"))
            .await?;
    }
    // The IDs are NOW..NOW+3; each lasts its lifetime from its ID.
    let later = NOW + 20;
    let list = store
        .list_sessions(user, later, PAGE)
        .await?
        .ok_or("no such user")?;
    assert_eq!((list.count, list.items.len()), (2, 2));
    assert!(list.items[0].id > list.items[1].id, "newest first");
    let beyond = store
        .list_sessions(
            user,
            later,
            Page {
                limit: 50,
                offset: 5,
            },
        )
        .await?
        .ok_or("no such user")?;
    assert_eq!((beyond.count, beyond.items.len()), (2, 0));
    let auth = store.authenticate(user, list.items[0].id, later).await?;
    assert!(auth.is_some());
    Ok(())
}

#[tokio::test]
async fn sessions_written_in_bulk_keep_the_invariants() -> TestResult {
    use thunderhead::store::NewSession;
    let (_db, store) = TestDb::open(&PoolSettings::default()).await?;
    let user = store.create_user(&new_user("alice"), NOW_MS).await?.id;
    let bulk: Vec<NewSession> = (0..1200)
        .map(|i| NewSession {
            iat: NOW - 100 + i,
            exp: if i < 200 { NOW - 1 } else { NOW + 100_000 },
            name: format!("imported {i}"),
        })
        .collect();
    assert_eq!(store.insert_sessions(user, &bulk).await?, Some(1200));
    // Counted (expired ones left out of what a client sees) and listed newest first.
    let list = store
        .list_sessions(user, NOW, PAGE)
        .await?
        .ok_or("no user")?;
    assert_eq!(list.count, 1000);
    assert_eq!(list.items[0].id, SessionId(NOW - 100 + 1199));
    // IDs already taken are skipped, not counted twice.
    assert_eq!(store.insert_sessions(user, &bulk[..10]).await?, Some(0));
    // The next login gets an ID past the bulk, even in the same second.
    let next = store
        .create_session(user, &login(NOW, 100, "login"))
        .await?
        .ok_or("no session")?;
    assert_eq!(next.id, SessionId(NOW - 100 + 1200));
    // Revoke-all covers them all, the count goes to zero, and the purge removes the rows.
    assert_eq!(
        store.revoke_all_sessions(user, None, NOW).await?,
        Some(1001)
    );
    assert!(store.purge_pending().await?);
    while store.purge_revoked(500).await?.is_some() {}
    assert!(!store.purge_pending().await?);
    assert_eq!(
        store.list_sessions(user, NOW, PAGE).await?.map(|l| l.count),
        Some(0)
    );
    // Sessions below the watermark are revoked already: not written.
    assert_eq!(store.insert_sessions(user, &bulk[200..210]).await?, Some(0));
    assert_eq!(store.insert_sessions(UserId(9999), &bulk[..1]).await?, None);
    Ok(())
}
