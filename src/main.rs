//! The `postbote` binary: parse the command line, set up logging, run the library, and turn
//! an error into a message and an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = postbote::cli::Cli::parse();
    postbote::cli::init_tracing(cli.verbose);
    postbote::tls::install_provider();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("postbote: cannot start the runtime: {e}");
            return ExitCode::from(70);
        }
    };
    match rt.block_on(postbote::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("postbote: {e:#}");
            ExitCode::from(1)
        }
    }
}
