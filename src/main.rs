//! Thin entry point: parse arguments, run the library, print errors on one line.
use std::process::ExitCode;

fn main() -> ExitCode {
    match facemb::cli::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
