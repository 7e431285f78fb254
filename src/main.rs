//! Thin entry point: run the command line, print an error once, exit with its code.
use std::process::ExitCode;

use facemb::Error;

fn main() -> ExitCode {
    match facemb::cli::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        // --help and --version land here too: clap prints them, with exit code 0.
        Err(Error::Usage(e)) => {
            let _ = e.print();
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
