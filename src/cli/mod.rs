//! The command line: `shoal serve` runs the broker; `stream`, `put`, `tail` and `health`
//! are clients of the Kinesis API (any endpoint, SigV4-signed) for operators and
//! scripts: human tables by default, `--json` for machines, errors on stderr with a
//! non-zero exit.

pub(crate) mod output;
mod records;
mod serve;
mod stream;

use clap::{Parser, Subcommand};

use crate::client::{Client, Credentials};
pub use records::{PutArgs, TailArgs};
pub use serve::ServeArgs;
pub(crate) use stream::list_shards;
pub use stream::StreamCommand;

#[derive(Debug, Parser)]
#[command(
    name = "shoal",
    version,
    about = "A durable broker that speaks the Amazon Kinesis Data Streams API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the broker.
    Serve(ServeArgs),
    /// Create, inspect, reshape and delete streams.
    Stream {
        #[command(flatten)]
        client: ClientArgs,
        #[command(subcommand)]
        command: StreamCommand,
    },
    /// Put one record, or every line of stdin as a record.
    Put {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: PutArgs,
    },
    /// Print a stream's records as they arrive, following every shard through reshards.
    Tail {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: TailArgs,
    },
    /// Generate load against an endpoint and report throughput and latency.
    Bench {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        args: crate::bench::BenchArgs,
    },
    /// Exit 0 when the server's GET /health answers 200 (for container health checks).
    Health {
        #[command(flatten)]
        client: ClientArgs,
    },
}

/// Where and how the client commands reach a server.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The server's URL.
    #[arg(
        long,
        global = true,
        hide_env_values = true,
        env = "SHOAL_ENDPOINT",
        default_value = "http://127.0.0.1:4567"
    )]
    pub endpoint: String,
    /// Region to sign for (default: AWS_REGION, then AWS_DEFAULT_REGION, then us-east-1).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Machine-readable output: JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ClientArgs {
    /// A client for the endpoint, signing with the AWS environment's key when set.
    pub fn client(&self) -> Result<Client, String> {
        let region = self
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "us-east-1".into());
        Client::new(&self.endpoint, &region, Credentials::from_env())
    }
}

/// Runs a client command to completion on a runtime of its own: one thread, except
/// for `bench`, whose load needs every core.
pub fn run_client(command: Command) -> Result<(), String> {
    let runtime = match command {
        Command::Bench { .. } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    }
    .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        match command {
            Command::Serve(_) => Err("serve is not a client command".into()),
            Command::Stream { client, command } => {
                stream::run(&client.client()?, client.json, command).await
            }
            Command::Put { client, args } => {
                records::put(&client.client()?, client.json, args).await
            }
            Command::Tail { client, args } => {
                records::tail(&client.client()?, client.json, args).await
            }
            Command::Health { client } => health(&client).await,
            Command::Bench { client, args } => {
                crate::bench::run(args, client.json, &|| client.client()).await
            }
        }
    })
}

async fn health(args: &ClientArgs) -> Result<(), String> {
    let (status, body) = args
        .client()?
        .get("/health")
        .await
        .map_err(|e| e.to_string())?;
    if args.json || status != 200 {
        output::line(body.trim());
    } else {
        output::line("healthy");
    }
    if status == 200 {
        Ok(())
    } else {
        Err(format!("not healthy: HTTP {status}"))
    }
}
