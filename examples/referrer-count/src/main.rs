//! `referrer-count`: count HTTP referrers in real time through a Kinesis data stream.
//!
//! `produce` writes synthetic HTTP access events (JSON, partition key = referrer) at a
//! bounded rate; `consume` reads every shard of the stream, follows resharding into
//! child shards, and prints a table of referrer counts over a sliding window.
//!
//! The Kinesis endpoint comes from `SHOAL_ENDPOINT` (default `http://127.0.0.1:4567`).

mod client;
mod consume;
mod events;
mod produce;
mod window;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "referrer-count",
    version,
    about = "Count HTTP referrers in real time through a Kinesis data stream"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Put synthetic HTTP access events on the stream.
    Produce(produce::ProduceArgs),
    /// Read every shard and print referrer counts over a sliding window.
    Consume(consume::ConsumeArgs),
}

/// Options both commands take.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// The stream to write to or read from.
    #[arg(long, env = "STREAM_NAME", default_value = "referrers")]
    pub stream: String,
    /// The Kinesis endpoint (a Shoal server).
    #[arg(long, env = "SHOAL_ENDPOINT", default_value = "http://127.0.0.1:4567")]
    pub endpoint: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Produce(args) => produce::run(args).await,
        Command::Consume(args) => consume::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("referrer-count: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM, as `docker stop` sends.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
