// Re-embed migrations whenever a migration folder changes (diesel's
// `embed_migrations!` does not notice new folders by itself).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=state-migrations");
}
