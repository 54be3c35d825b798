//! `SHOAL_<SECTION>_<KEY>` environment variables, laid over the file: every key of
//! `config/shoal.toml` can be set from the environment (docker-compose, CI) without a
//! file. A variable naming a section but no key of it is an error, so a typo does not
//! silently leave a default in place.

/// Keys that have no default (commented out in `config/shoal.toml`), and their types.
const OPTIONAL_KEYS: &[(&str, &str, Kind)] = &[
    ("server", "tls_port", Kind::Integer),
    ("server", "tls_cert", Kind::String),
    ("server", "tls_key", Kind::String),
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Integer,
    Boolean,
    String,
    List,
}

fn kind_of(v: &toml::Value) -> Option<Kind> {
    match v {
        toml::Value::Integer(_) => Some(Kind::Integer),
        toml::Value::Boolean(_) => Some(Kind::Boolean),
        toml::Value::String(_) => Some(Kind::String),
        toml::Value::Array(a) if a.iter().all(|v| v.is_str()) => Some(Kind::List),
        _ => None,
    }
}

fn parse(kind: Kind, raw: &str) -> Option<toml::Value> {
    Some(match kind {
        Kind::Integer => toml::Value::Integer(raw.trim().parse().ok()?),
        Kind::Boolean => toml::Value::Boolean(match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return None,
        }),
        Kind::String => toml::Value::String(raw.to_string()),
        Kind::List => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
    })
}

/// Sets `table[section][key]` from every `SHOAL_<SECTION>_<KEY>` in `vars`.
pub(super) fn overlay(
    table: &mut toml::Table,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), String> {
    let sections: Vec<String> = table.keys().cloned().collect();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix("SHOAL_") else {
            continue;
        };
        let Some((section, key)) = sections.iter().find_map(|s| {
            let k = rest
                .strip_prefix(&s.to_ascii_uppercase())?
                .strip_prefix('_')?;
            Some((s.as_str(), k.to_ascii_lowercase()))
        }) else {
            continue;
        };
        let Some(toml::Value::Table(t)) = table.get_mut(section) else {
            continue;
        };
        if section == "auth" && key == "credentials" {
            return Err(format!(
                "{name}: set credentials with SHOAL_CREDENTIALS=AKID:SECRET[:ACCOUNT],... or the config file"
            ));
        }
        let kind = match t.get(&key) {
            Some(v) => kind_of(v),
            None => OPTIONAL_KEYS
                .iter()
                .find(|(s, k, _)| *s == section && *k == key)
                .map(|(_, _, kind)| *kind),
        };
        let Some(kind) = kind else {
            return Err(if t.contains_key(&key) {
                format!("{name}: {section}.{key} cannot be set from the environment (use the config file)")
            } else {
                format!("{name}: there is no key {section}.{key} (see config/shoal.toml)")
            });
        };
        let value = parse(kind, &raw).ok_or_else(|| {
            format!(
                "{name}: {section}.{key} takes {}, got {raw:?}",
                match kind {
                    Kind::Integer => "a whole number",
                    Kind::Boolean => "true or false",
                    _ => "a string",
                }
            )
        })?;
        t.insert(key, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(vars: &[(&str, &str)]) -> Result<Config, String> {
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load(None, vars)
    }

    #[test]
    fn every_kind_of_key_comes_from_the_environment() {
        let c = load(&[
            ("SHOAL_STREAMS_CREATE_DELAY_MS", "0"),
            ("SHOAL_LIMITS_THROTTLE", "false"),
            ("SHOAL_SERVER_HOST", "0.0.0.0"),
            ("SHOAL_STREAMS_CREATE", "orders:4, clicks:1"),
            ("SHOAL_SERVER_TLS_PORT", "4568"),
            ("SHOAL_METRICS_PER_SHARD", "off"),
            ("PATH", "/bin"),
            ("SHOAL_HOST", "ignored here: a flag's variable"),
        ])
        .unwrap();
        assert_eq!(c.streams.create_delay_ms, 0);
        assert!(!c.limits.throttle);
        assert_eq!(c.server.host, "0.0.0.0");
        assert_eq!(c.streams.create, ["orders:4", "clicks:1"]);
        assert_eq!(c.server.tls_port, Some(4568));
        assert!(!c.metrics.per_shard);
    }

    #[test]
    fn typos_and_bad_values_are_errors() {
        let e = load(&[("SHOAL_STREAMS_CREATE_DELAY", "0")]).unwrap_err();
        assert!(e.contains("no key streams.create_delay"), "{e}");
        let e = load(&[("SHOAL_SERVER_PORT", "lots")]).unwrap_err();
        assert!(e.contains("whole number"), "{e}");
        let e = load(&[("SHOAL_AUTH_CREDENTIALS", "a:b")]).unwrap_err();
        assert!(e.contains("SHOAL_CREDENTIALS="), "{e}");
    }
}
