//! `shoal serve` and its flags. Every flag also reads a `SHOAL_*` environment
//! variable; a flag given on the command line wins over the variable, and both win over
//! the `SHOAL_<SECTION>_<KEY>` variables and the config file.

use std::path::PathBuf;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, hide_env_values = true, env = "SHOAL_HOST")]
    pub host: Option<String>,
    /// Port for HTTP/1.1 and cleartext HTTP/2.
    #[arg(long, hide_env_values = true, env = "SHOAL_PORT")]
    pub port: Option<u16>,
    /// Directory for shard logs and the catalog (created if missing).
    #[arg(long, hide_env_values = true, env = "SHOAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where streams live: "local" (the data dir) or "kafka" (a Kafka cluster shared
    /// by every Shoal node pointed at it; see docs/scaling.md).
    #[arg(long, hide_env_values = true, env = "SHOAL_STORAGE", value_parser = ["local", "kafka"])]
    pub storage: Option<String>,
    /// Kafka brokers for --storage kafka: HOST:PORT[,HOST:PORT...].
    #[arg(long, hide_env_values = true, env = "SHOAL_KAFKA_BOOTSTRAP")]
    pub kafka_bootstrap: Option<String>,
    /// Keep everything in memory; nothing survives a restart.
    #[arg(long, hide_env_values = true, env = "SHOAL_IN_MEMORY", value_parser = clap::builder::BoolishValueParser::new())]
    pub in_memory: bool,
    /// When a write is acknowledged: after fdatasync (sync), with background syncs (interval), or never synced (none).
    #[arg(long, hide_env_values = true, env = "SHOAL_DURABILITY", value_parser = ["sync", "interval", "none"])]
    pub durability: Option<String>,
    /// Do not enforce AWS's limits: neither the per-shard throughput limits nor the
    /// control-plane rate quotas (for load tests and fast test suites).
    #[arg(long, hide_env_values = true, env = "SHOAL_NO_THROTTLE", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_throttle: bool,
    /// Port of an optional TLS listener (HTTP/1.1 and HTTP/2 by ALPN).
    #[arg(long, hide_env_values = true, env = "SHOAL_TLS_PORT")]
    pub tls_port: Option<u16>,
    /// PEM certificate chain for the TLS listener (default: a self-signed one kept in the data dir).
    #[arg(
        long,
        hide_env_values = true,
        env = "SHOAL_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the TLS listener.
    #[arg(
        long,
        hide_env_values = true,
        env = "SHOAL_TLS_KEY",
        requires = "tls_cert"
    )]
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
    #[arg(long, hide_env_values = true, env = "SHOAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Create this stream at start unless it exists: NAME:SHARDS. Repeatable; the
    /// variable takes a comma-separated list. Replaces the file's `streams.create`.
    #[arg(
        long = "create-stream",
        hide_env_values = true,
        env = "SHOAL_CREATE_STREAMS",
        value_delimiter = ','
    )]
    pub create_streams: Vec<String>,
    /// Log lines as human text or as JSON objects.
    #[arg(long, hide_env_values = true, env = "SHOAL_LOG_FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
}

impl ServeArgs {
    /// The config file (or defaults) with the process environment and flags laid
    /// over it.
    pub fn resolve(&self) -> Result<Config, String> {
        self.resolve_with(std::env::vars())
    }

    /// Like `resolve`, with `vars` standing for the environment.
    pub fn resolve_with(
        &self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, String> {
        let mut c = Config::load(self.config.as_deref(), vars)?;
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
        if let Some(store) = &self.storage {
            c.storage.store = store.clone();
        }
        if let Some(b) = &self.kafka_bootstrap {
            c.kafka.bootstrap = b.clone();
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
        let declared: Vec<String> = self
            .create_streams
            .iter()
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .collect();
        if !declared.is_empty() {
            c.streams.create = declared;
        }
        if let Some(f) = &self.log_format {
            c.server.log_format = f.clone();
        }
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn serve(args: &[&str]) -> ServeArgs {
        let mut argv = vec!["shoal", "serve"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(a) => a,
            _ => unreachable!("parsed a serve command"),
        }
    }

    #[test]
    fn flags_win_over_variables_which_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("shoal.toml");
        std::fs::write(
            &file,
            "[server]\nport = 7000\n[streams]\ncreate_delay_ms = 7\nupdate_delay_ms = 8\ncreate = [\"a:1\"]\n",
        )
        .unwrap();
        let vars = || {
            [
                ("SHOAL_SERVER_PORT", "7001"),
                ("SHOAL_STREAMS_UPDATE_DELAY_MS", "9"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        };
        let path = file.to_str().unwrap();
        let c = serve(&["--config", path]).resolve_with(vars()).unwrap();
        assert_eq!(c.server.port, 7001);
        assert_eq!(c.streams.create_delay_ms, 7);
        assert_eq!(c.streams.update_delay_ms, 9);
        assert_eq!(c.declared_streams().unwrap()[0].name, "a");
        let c = serve(&[
            "--config",
            path,
            "--port",
            "7002",
            "--create-stream",
            "b:2,c:3",
        ])
        .resolve_with(vars())
        .unwrap();
        assert_eq!(c.server.port, 7002);
        let names: Vec<String> = c
            .declared_streams()
            .unwrap()
            .into_iter()
            .map(|d| d.name)
            .collect();
        assert_eq!(names, ["b", "c"]);
        let e = serve(&["--create-stream", "orders"])
            .resolve_with(vars())
            .unwrap_err();
        assert!(e.contains("NAME:SHARDS"), "{e}");
        let e = serve(&["--create-stream", "o:1,o:2"])
            .resolve_with(vars())
            .unwrap_err();
        assert!(e.contains("twice"), "{e}");
    }

    #[test]
    fn credentials_are_repeatable_and_comma_separated() {
        let c = serve(&[
            "--credentials",
            "A:s",
            "--credentials",
            "B:t:111111111111,C:u",
        ])
        .resolve_with([])
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
        assert!(serve(&["--credentials", "nosecret"])
            .resolve_with([])
            .is_err());
    }
}
