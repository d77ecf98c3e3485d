//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the
//! migrations folders, and Cargo does not watch them by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
