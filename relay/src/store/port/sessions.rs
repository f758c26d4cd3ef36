//! [`Sessions`] on SQLite. Login challenges live in memory ([`crate::store::challenges`],
//! docs/adr/0027): this adapter is for one relay process per database; issuing and taking one
//! costs no write through the group-committed writer.

use super::SqliteStore;
use crate::service::Refusal;
use crate::storage::StoreFuture;
use crate::storage::sessions::{Challenge, LoginCheck, Lookup, NewSession, Sessions};
use crate::store::{own_sessions, sessions, users};

impl Sessions for SqliteStore {
    fn issue_challenge(
        &self,
        user_id: String,
        nonce: String,
        expires_at: i64,
        max_per_user: u64,
        now: i64,
    ) -> StoreFuture<'_, bool> {
        // No write: the challenge is kept in memory. No read either when the account is held
        // from an earlier login (docs/adr/0035).
        if self.db.cached_login_account(&user_id).is_some() {
            self.db
                .challenges()
                .create(&nonce, &user_id, expires_at, max_per_user, now);
            return Box::pin(std::future::ready(Ok(true)));
        }
        let db = self.db.clone();
        Box::pin(self.db.read(move |c| {
            if db.read_login_account(c, &user_id)?.is_none() {
                return Ok(false);
            }
            db.challenges()
                .create(&nonce, &user_id, expires_at, max_per_user, now);
            Ok(true)
        }))
    }

    fn check_login(
        &self,
        user_id: String,
        nonce: String,
        check: LoginCheck,
    ) -> StoreFuture<'_, Option<Result<(), Refusal>>> {
        // Consumed now, before anything can fail.
        let challenge = self
            .db
            .challenges()
            .take(&nonce)
            .map(|(user_id, expires_at)| Challenge {
                user_id,
                expires_at,
            });
        // The account held from the challenge: checked here, with no hand-off to a reader
        // (one signature verification); only an accepted login reaches the writer.
        if let Some(account) = self.db.cached_login_account(&user_id) {
            return Box::pin(std::future::ready(Ok(Some(check(&account, challenge)))));
        }
        let db = self.db.clone();
        Box::pin(self.db.read(move |c| {
            Ok(db
                .read_login_account(c, &user_id)?
                .map(|account| check(&account, challenge)))
        }))
    }

    fn open_session(
        &self,
        token_hash: [u8; 32],
        user_id: String,
        expires_at: i64,
        session: NewSession,
    ) -> StoreFuture<'_, bool> {
        Box::pin(self.db.write(move |tx| {
            // Deleted since the login's read: its rows cascade away, a session would not insert.
            if users::get(tx, &user_id)?.is_none() {
                return Ok(false);
            }
            sessions::insert(tx, &token_hash, &user_id, expires_at, &session)?;
            Ok(true)
        }))
    }

    fn session(&self, token_hash: [u8; 32], now: i64) -> StoreFuture<'_, Lookup> {
        Box::pin(self.db.read(move |c| sessions::lookup(c, &token_hash, now)))
    }

    fn drop_session(&self, token_hash: [u8; 32]) -> StoreFuture<'_, ()> {
        Box::pin(self.db.write(move |tx| sessions::delete(tx, &token_hash)))
    }

    fn touch_session(&self, token_hash: [u8; 32], hour: i64) -> StoreFuture<'_, ()> {
        Box::pin(
            self.db
                .write(move |tx| own_sessions::touch(tx, &token_hash, hour)),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::storage::users::Users as _;
    use crate::store::tests::user;
    use crate::store::{ClientType, Db};

    fn session(now: i64) -> NewSession {
        NewSession {
            session_id: "00000000-0000-4000-8000-000000000001".into(),
            device_label: None,
            protocol: sessions::Protocol::V1,
            now,
        }
    }

    /// Through the port: a challenge is issued only for an account, is taken by the first
    /// login attempt whatever its outcome (an unknown account included), goes with its
    /// account, and a session does not open for an account deleted since the check.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn challenges_are_single_use_and_go_with_their_account() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        db.write_blocking(|tx| users::insert(tx, &user("s", "sys", ClientType::System)))
            .unwrap();
        let store = SqliteStore::new(Arc::clone(&db));
        let seen = |expect: Option<Challenge>| -> LoginCheck {
            Box::new(move |_, got| {
                assert_eq!(got, expect);
                Ok(())
            })
        };
        assert!(
            !store
                .issue_challenge("x".into(), "n0".into(), 100, 16, 0)
                .await
                .unwrap()
        );
        assert!(
            store
                .issue_challenge("s".into(), "n1".into(), 100, 16, 0)
                .await
                .unwrap()
        );
        // Taken by an attempt for an unknown account: not there for the right one.
        assert_eq!(
            store
                .check_login("x".into(), "n1".into(), seen(None))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .check_login("s".into(), "n1".into(), seen(None))
                .await
                .unwrap(),
            Some(Ok(()))
        );
        assert!(
            store
                .issue_challenge("s".into(), "n2".into(), 100, 16, 0)
                .await
                .unwrap()
        );
        let issued = Challenge {
            user_id: "s".into(),
            expires_at: 100,
        };
        assert_eq!(
            store
                .check_login("s".into(), "n2".into(), seen(Some(issued)))
                .await
                .unwrap(),
            Some(Ok(()))
        );
        assert!(
            store
                .issue_challenge("s".into(), "n3".into(), 100, 16, 0)
                .await
                .unwrap()
        );
        assert_eq!(db.challenges().count_pending(0), 1);
        assert!(store.delete_user("s".into()).await.unwrap());
        assert_eq!(db.challenges().count_pending(0), 0);
        assert!(
            !store
                .open_session([7; 32], "s".into(), 100, session(0))
                .await
                .unwrap()
        );
        assert!(matches!(
            store.session([7; 32], 0).await.unwrap(),
            Lookup::Unknown
        ));
    }

    /// A login's account is read once and then held: a change the relay cannot see (another
    /// connection's write) is not read back, while one through the relay's writer (an account
    /// deleted, its key changed, its protocol changed) is seen by the very next login.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn login_accounts_are_held_until_the_writer_changes_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Db::open(&path).unwrap();
        let public = |seed: u8| {
            ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
                .verifying_key()
                .to_bytes()
        };
        let (k1, k9) = (public(1), public(9));
        let mut account = user("s", "sys", ClientType::System);
        account.public_signing_key = k1;
        db.write_blocking(|tx| users::insert(tx, &account)).unwrap();
        let store = SqliteStore::new(Arc::clone(&db));
        let key = |account: crate::store::users::LoginAccount| {
            account.signing_key.map_or([0; 32], |k| k.to_bytes())
        };
        // Runs a login check for `s` and returns the account it was shown.
        let login = |nonce: &'static str| {
            let store = store.clone();
            async move {
                assert!(
                    store
                        .issue_challenge("s".into(), nonce.into(), 100, 16, 0)
                        .await
                        .unwrap()
                );
                let (tx, rx) = std::sync::mpsc::channel();
                let answer = store
                    .check_login(
                        "s".into(),
                        nonce.into(),
                        Box::new(move |account, _| {
                            tx.send(*account).unwrap();
                            Ok(())
                        }),
                    )
                    .await
                    .unwrap();
                assert_eq!(answer, Some(Ok(())));
                rx.recv().unwrap()
            }
        };
        assert_eq!(key(login("n1").await), k1);
        assert!(db.cached_login_account("s").is_some());

        // Behind the relay's back: the held account answers (the TTL bounds how long).
        let other = rusqlite::Connection::open(&path).unwrap();
        other
            .execute(
                "UPDATE users SET public_signing_key = zeroblob(32) WHERE id = 's'",
                [],
            )
            .unwrap();
        assert_eq!(key(login("n2").await), k1);

        // Through the writer: seen at once.
        db.write_blocking(|tx| {
            tx.execute(
                "UPDATE users SET public_signing_key = ?1 WHERE id = 's'",
                [k9],
            )?;
            Ok(())
        })
        .unwrap();
        assert_eq!(key(login("n3").await), k9);
        db.write_blocking(|tx| {
            tx.execute(
                "UPDATE users SET key_binding_signature = ?1 WHERE id = 's'",
                [[5u8; 64]],
            )?;
            Ok(())
        })
        .unwrap();
        assert!(login("n4").await.is_v2, "the protocol change is seen");

        // Deleted: no challenge, no login, though it was held a moment ago.
        assert!(db.cached_login_account("s").is_some());
        assert!(store.delete_user("s".into()).await.unwrap());
        assert!(db.cached_login_account("s").is_none());
        assert!(
            !store
                .issue_challenge("s".into(), "n5".into(), 100, 16, 0)
                .await
                .unwrap()
        );
        assert_eq!(
            store
                .check_login("s".into(), "n5".into(), Box::new(|_, _| Ok(())))
                .await
                .unwrap(),
            None
        );
    }
}
