//! The command line: `shoal serve` and its flags. Every flag also reads a `SHOAL_*`
//! environment variable; a flag given on the command line wins over the variable,
//! and both win over the config file.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;

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
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SHOAL_HOST")]
    pub host: Option<String>,
    /// Port for HTTP/1.1 and cleartext HTTP/2.
    #[arg(long, env = "SHOAL_PORT")]
    pub port: Option<u16>,
    /// Directory for shard logs and the catalog (created if missing).
    #[arg(long, env = "SHOAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in memory; nothing survives a restart.
    #[arg(long, env = "SHOAL_IN_MEMORY")]
    pub in_memory: bool,
    /// When a write is acknowledged: after fdatasync (sync), with background syncs (interval), or never synced (none).
    #[arg(long, env = "SHOAL_DURABILITY", value_parser = ["sync", "interval", "none"])]
    pub durability: Option<String>,
    /// Do not enforce AWS's per-shard throughput limits.
    #[arg(long, env = "SHOAL_NO_THROTTLE")]
    pub no_throttle: bool,
    /// Port of an optional TLS listener (HTTP/1.1 and HTTP/2 by ALPN).
    #[arg(long, env = "SHOAL_TLS_PORT")]
    pub tls_port: Option<u16>,
    /// PEM certificate chain for the TLS listener (default: a self-signed one kept in the data dir).
    #[arg(long, env = "SHOAL_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the TLS listener.
    #[arg(long, env = "SHOAL_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Verify SigV4 signatures with this access key: AKID:SECRET or AKID:SECRET:ACCOUNT.
    /// Repeatable; the variable takes a comma-separated list. Replaces the file's
    /// `auth.credentials`.
    #[arg(
        long,
        env = "SHOAL_CREDENTIALS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub credentials: Vec<String>,
    /// TOML configuration file (see config/shoal.toml for every key).
    #[arg(long, env = "SHOAL_CONFIG")]
    pub config: Option<PathBuf>,
}

impl ServeArgs {
    /// The config file (or defaults) with environment and flags laid over it.
    pub fn resolve(&self) -> Result<Config, String> {
        let mut c = Config::load(self.config.as_deref())?;
        if let Some(h) = &self.host {
            c.server.host = h.clone();
        }
        if let Some(p) = self.port {
            c.server.port = p;
        }
        if let Some(d) = &self.data_dir {
            c.storage.data_dir = d.clone();
        }
        if self.in_memory {
            c.storage.in_memory = true;
        }
        if let Some(d) = &self.durability {
            c.storage.durability = d.clone();
        }
        if let Some(p) = self.tls_port {
            c.server.tls_port = Some(p);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            c.server.tls_cert = cert.clone();
            c.server.tls_key = key.clone();
        }
        if self.no_throttle {
            c.limits.throttle = false;
        }
        if !self.credentials.is_empty() {
            c.auth.credentials = self
                .credentials
                .iter()
                .filter(|s| !s.trim().is_empty())
                .map(|s| crate::config::CredentialConfig::parse(s))
                .collect::<Result<_, _>>()?;
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> ServeArgs {
        let mut argv = vec!["shoal", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(a) => a,
        }
    }

    #[test]
    fn credentials_are_repeatable_and_comma_separated() {
        let c = serve(&[
            "--credentials",
            "A:s",
            "--credentials",
            "B:t:111111111111,C:u",
        ])
        .resolve()
        .unwrap();
        let ids: Vec<&str> = c
            .auth
            .credentials
            .iter()
            .map(|k| k.access_key_id.as_str())
            .collect();
        assert_eq!(ids, ["A", "B", "C"]);
        assert_eq!(
            c.auth.credentials[1].account("000000000000"),
            "111111111111"
        );
        assert!(serve(&["--credentials", "nosecret"]).resolve().is_err());
    }
}
