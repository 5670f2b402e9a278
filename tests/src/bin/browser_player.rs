//! `keyfob-browser-player DIR USER`: types USER and the password read from stdin into the IdP
//! login page of the browser keyfob runs with profile directory DIR (for bench scripts and
//! demos; the e2e tests call the library function). Exits 1 after 90 s without a login page.
#![allow(clippy::print_stderr)]

use std::io::BufRead as _;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, user] = args.as_slice() else {
        eprintln!("usage: keyfob-browser-player DIR USER  (the password on stdin)");
        return ExitCode::from(2);
    };
    let mut password = String::new();
    if std::io::stdin().lock().read_line(&mut password).is_err() {
        eprintln!("cannot read the password from stdin");
        return ExitCode::from(2);
    }
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The timer is made inside the runtime.
    let done = rt.block_on(keyfob_tests::player::type_into_login_page(
        dir.as_ref(),
        user,
        &password,
        Duration::from_secs(90),
    ));
    match done {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keyfob-browser-player: {e}");
            ExitCode::FAILURE
        }
    }
}
