//! The `shoal` binary: parse the command line, then run the server (config, tracing,
//! runtime) or one of the client commands.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use shoal::broker::SystemClock;
use shoal::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => run_serve(args),
        client => shoal::cli::run_client(client),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Log lines on stderr, filtered by `RUST_LOG` (default `info`).
fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if format == "json" {
        builder.json().with_current_span(false).init();
    } else {
        builder.init();
    }
}

fn run_serve(args: shoal::cli::ServeArgs) -> Result<(), String> {
    let config = args.resolve()?;
    init_tracing(&config.server.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    // Before anything listens: a second server on a data dir in use says so and stops.
    let dir = &config.storage.data_dir;
    let local = !config.uses_kafka() && !config.storage.in_memory;
    if local && shoal::storage::catalog::dir_in_use(&*shoal::storage::fs::os(), dir) {
        return Err(format!(
            "the data dir {} is in use by another shoal process (its lock file is held)",
            dir.display()
        ));
    }
    runtime.block_on(async move {
        let listeners = shoal::server::Listeners::bind(&config).await?;
        let addr = listeners.plain_addr().map_err(|e| e.to_string())?;
        let store = if config.uses_kafka() {
            format!("Kafka at {}", config.kafka.bootstrap)
        } else if config.storage.in_memory {
            "in memory".to_string()
        } else {
            format!("data dir {}", config.storage.data_dir.display())
        };
        let tls = listeners
            .tls_addr()
            .map(|a| format!(", TLS on https://{a}"))
            .unwrap_or_default();
        tracing::info!(
            "shoal listening on http://{addr} ({store}, durability {}{tls})",
            config.storage.durability
        );
        let for_open = config.clone();
        let open = move || shoal::server::open_broker(&for_open, Arc::new(SystemClock));
        let source = shoal::server::BrokerSource::Open(Box::new(open));
        shoal::server::serve(listeners, source, &config, shutdown_signal())
            .await
            .map_err(|e| format!("server error: {e}"))?;
        tracing::info!("shoal stopped cleanly");
        Ok(())
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
