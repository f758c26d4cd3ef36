//! [`Operators`] on SQLite.

use super::SqliteStore;
use crate::storage::operators::Operators;

impl Operators for SqliteStore {}
