//! `tern-speaker` entry point.

fn main() {
    eprintln!("tern-speaker: not wired yet");
    std::process::exit(2);
}
