//! The archives: [`PgArchive`] and [`SqliteArchive`], around the SQL
//! (`sql.rs`) and the rows (`rows.rs`) they share.

mod postgres;
mod rows;
mod sql;
mod sqlite;

// The store-wide names the archives below take from `super::`.
use super::{Archive, StoreError, WriteOutcome, breaker, guard};

pub use self::postgres::PgArchive;
pub use self::sqlite::SqliteArchive;
