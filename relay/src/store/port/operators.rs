//! [`Operators`] on SQLite: each method is one read or write transaction; the in-memory login
//! challenges ([`crate::store::challenges`]) are counted and expired beside it.

use std::collections::{HashMap, HashSet};

use super::SqliteStore;
use crate::storage::StoreFuture;
use crate::storage::operators::{
    AdminShare, AdminUser, AdminVolume, Filter, Gauges, Listed, MaintenanceReport, MaintenanceTurn,
    Operators, Page, SessionStats, Stats,
};
use crate::store::{admin_view, maintenance, sessions, stats, volumes};

impl Operators for SqliteStore {
    fn stats(&self, now: i64) -> StoreFuture<'_, Stats> {
        Box::pin(self.db.read(move |c| stats::stats(c, now)))
    }

    fn gauges(&self, now: i64) -> StoreFuture<'_, Gauges> {
        Box::pin(async move {
            let mut gauges = self.db.read(move |c| stats::gauges(c, now)).await?;
            gauges.pending_challenges += self.db.challenges().count_pending(now);
            Ok(gauges)
        })
    }

    fn session_stats(&self, now: i64) -> StoreFuture<'_, SessionStats> {
        Box::pin(async move {
            let mut s = self.db.read(move |c| stats::session_stats(c, now)).await?;
            s.pending_challenges += self.db.challenges().count_pending(now);
            Ok(s)
        })
    }

    fn admin_users(&self, filter: Filter, page: Page) -> StoreFuture<'_, Listed<AdminUser>> {
        Box::pin(self.db.read(move |c| admin_view::users(c, &filter, page)))
    }

    fn admin_user(&self, id: String) -> StoreFuture<'_, Option<(AdminUser, Vec<AdminVolume>)>> {
        let filter = Filter {
            user_id: Some(id),
            ..Filter::default()
        };
        Box::pin(self.db.read(move |c| {
            let Some(user) = admin_view::users(c, &filter, Page::default())?.rows.pop() else {
                return Ok(None);
            };
            let volumes = admin_view::volumes(c, &filter, Page::default())?.rows;
            Ok(Some((user, volumes)))
        }))
    }

    fn admin_volumes(&self, filter: Filter, page: Page) -> StoreFuture<'_, Listed<AdminVolume>> {
        Box::pin(self.db.read(move |c| admin_view::volumes(c, &filter, page)))
    }

    fn admin_sharing(
        &self,
        filter: Filter,
        page: Page,
        now: i64,
    ) -> StoreFuture<'_, Listed<AdminShare>> {
        Box::pin(
            self.db
                .read(move |c| admin_view::sharing(c, &filter, page, now)),
        )
    }

    fn expire_all_sessions(&self) -> StoreFuture<'_, u64> {
        Box::pin(self.db.write(|tx| sessions::expire_all(tx)))
    }

    fn expire(&self, now: i64) -> StoreFuture<'_, MaintenanceReport> {
        Box::pin(async move {
            let mut report = self
                .db
                .write(move |tx| maintenance::expire_rows(tx, now))
                .await?;
            report.expired_challenges += self.db.challenges().expire(now);
            Ok(report)
        })
    }

    fn maintenance_turn(&self) -> StoreFuture<'_, Option<MaintenanceTurn>> {
        // One relay per data directory (its lock file): no other instance to wait for.
        Box::pin(async { Ok(Some(MaintenanceTurn::new(()))) })
    }

    fn referenced_blobs(
        &self,
        users: Vec<String>,
    ) -> StoreFuture<'_, HashMap<String, HashSet<String>>> {
        Box::pin(self.db.read(move |c| {
            let mut sets = HashMap::with_capacity(users.len());
            for user in users {
                let names = volumes::blob_files_of(c, &user)?;
                if !names.is_empty() {
                    sets.insert(user, names);
                }
            }
            Ok(sets)
        }))
    }
}
