//! The `postbote` binary: parse the command line, set up logging, run the library, and turn
//! an error into a message and an exit code.
//!
//! Before anything else the umask becomes 077, so that whatever postbote or SQLite creates is
//! the owner's alone. A closed standard output (`postbote messages list | head -1`) ends the
//! program quietly with status 0, as ripgrep does; with `--json` an error is one JSON object on
//! standard output (and the message on standard error), with a non-zero status.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // SAFETY: umask only sets the process's file-creation mask; no thread runs yet.
    unsafe { libc::umask(0o077) };
    let json_asked = std::env::args_os().any(|a| a == "--json");
    let cli = match postbote::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if json_asked && e.use_stderr() => {
            let message = e.render().to_string();
            return json_error(message.trim(), ExitCode::from(2));
        }
        Err(e) => e.exit(),
    };
    let json = cli.wants_json();
    postbote::cli::init_tracing(cli.verbose);
    postbote::tls::install_provider();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let message = format!("cannot start the runtime: {e}");
            return if json { json_error(&message, ExitCode::from(70)) } else { plain_error(&message, 70) };
        }
    };
    match rt.block_on(postbote::cli::run(cli)) {
        Ok(code) => code,
        Err(e) if e.chain().any(|c| c.is::<postbote::cli::StdoutClosed>()) => ExitCode::SUCCESS,
        Err(e) if json => json_error(&format!("{e:#}"), ExitCode::from(1)),
        Err(e) => plain_error(&format!("{e:#}"), 1),
    }
}

fn plain_error(message: &str, code: u8) -> ExitCode {
    eprintln!("postbote: {message}");
    ExitCode::from(code)
}

/// `{"error": "..."}` on standard output for the program reading it, the message on standard
/// error for a person.
fn json_error(message: &str, code: ExitCode) -> ExitCode {
    use std::io::Write;
    let v = serde_json::json!({ "error": message });
    // A closed pipe here leaves nothing more to say to anyone.
    let _ = writeln!(std::io::stdout(), "{v}");
    eprintln!("postbote: {message}");
    code
}
