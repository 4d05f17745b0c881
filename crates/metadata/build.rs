//! Build script: re-embeds migrations when they change.
fn main() {
    // Re-embed migrations when they change (sqlx::migrate! reads them at compile time).
    println!("cargo:rerun-if-changed=migrations");
}
