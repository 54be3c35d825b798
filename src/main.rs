//! The `shoal` binary: parse the command line, load config, start tracing, run.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use shoal::broker::SystemClock;
use shoal::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve(args) => run_serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shoal: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_serve(args: shoal::cli::ServeArgs) -> Result<(), String> {
    let config = args.resolve()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let broker = shoal::server::open_broker(&config, Arc::new(SystemClock))?;
        let listeners = shoal::server::Listeners::bind(&config).await?;
        let addr = listeners.plain_addr().map_err(|e| e.to_string())?;
        let store = if config.storage.in_memory {
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
        shoal::server::serve(listeners, broker, &config, shutdown_signal())
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
