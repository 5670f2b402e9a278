//! The floor of `bench/credential-process.sh`: a Rust binary that starts, writes one line to
//! stdout and exits, built with the workspace's release profile. What a process costs to start
//! on this machine before it does anything of its own.

use std::io::Write as _;

fn main() {
    // A closed stdout is not this floor's business: ignore the error as keyfob's output does.
    let _ = std::io::stdout().write_all(b"hello, world\n");
}
