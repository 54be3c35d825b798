//! The `[kms]` section: where the customer keys of StartStreamEncryption come from (a
//! key file, or the same text in `SHOAL_KMS_KEYS`), parsed and checked at start so a
//! bad key file stops the server rather than a later write.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;

use crate::broker::kms::{KeySpec, MANAGED_ALIAS};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsConfig {
    /// A TOML file of `[[key]]` tables; empty: none.
    pub keys_file: String,
    /// The same tables inline.
    pub keys: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    #[serde(default)]
    aliases: Vec<String>,
    material: Vec<String>,
    #[serde(default = "enabled")]
    enabled: bool,
}

fn enabled() -> bool {
    true
}

impl KmsConfig {
    /// Every configured key, from the file then the inline text.
    pub fn keys(&self) -> Result<Vec<KeySpec>, String> {
        let mut out = Vec::new();
        if !self.keys_file.is_empty() {
            let text = std::fs::read_to_string(&self.keys_file)
                .map_err(|e| format!("cannot read kms.keys_file {}: {e}", self.keys_file))?;
            out.extend(parse(&text).map_err(|e| format!("kms.keys_file {}: {e}", self.keys_file))?);
        }
        out.extend(parse(&self.keys).map_err(|e| format!("kms.keys: {e}"))?);
        Ok(out)
    }
}

fn parse(text: &str) -> Result<Vec<KeySpec>, String> {
    let file: KeyFile = toml::from_str(text).map_err(|e| e.to_string())?;
    file.key.into_iter().map(spec).collect()
}

fn spec(e: KeyEntry) -> Result<KeySpec, String> {
    let id_ok = !e.id.is_empty() && e.id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(format!(
            "key id {:?} must be letters, digits and dashes (a GUID, as KMS gives)",
            e.id
        ));
    }
    for a in &e.aliases {
        let name = a.strip_prefix("alias/").unwrap_or_default();
        if name.is_empty() || a == MANAGED_ALIAS || name.starts_with("aws/") {
            return Err(format!(
                "key {}: alias {a:?} must be alias/<name>, and alias/aws/ names are AWS's",
                e.id
            ));
        }
    }
    if e.material.is_empty() {
        return Err(format!("key {} has no material", e.id));
    }
    let material = e
        .material
        .iter()
        .map(|m| {
            STANDARD
                .decode(m.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| {
                    format!(
                        "key {}: material must be 32 bytes in base64 (head -c 32 /dev/urandom | base64)",
                        e.id
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    Ok(KeySpec {
        id: e.id,
        aliases: e.aliases,
        material,
        enabled: e.enabled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

    #[test]
    fn a_key_file_parses_into_keys_with_versions() {
        let text = format!(
            "[[key]]\nid = \"k-1\"\naliases = [\"alias/orders\"]\nmaterial = [\"{ONE}\", \"{ONE}\"]\n\
             [[key]]\nid = \"k-2\"\nmaterial = [\"{ONE}\"]\nenabled = false\n"
        );
        let keys = parse(&text).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].material, vec![[1u8; 32]; 2]);
        assert_eq!(keys[0].aliases, ["alias/orders"]);
        assert!(keys[0].enabled && !keys[1].enabled);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        for (text, says) in [
            (format!("[[key]]\nid = \"a b\"\nmaterial = [\"{ONE}\"]"), "letters"),
            (format!("[[key]]\nid = \"k\"\naliases = [\"orders\"]\nmaterial = [\"{ONE}\"]"), "alias/<name>"),
            (format!("[[key]]\nid = \"k\"\naliases = [\"alias/aws/kinesis\"]\nmaterial = [\"{ONE}\"]"), "AWS's"),
            ("[[key]]\nid = \"k\"\nmaterial = []".into(), "no material"),
            ("[[key]]\nid = \"k\"\nmaterial = [\"AAAA\"]".into(), "32 bytes"),
            ("[[key]]\nid = \"k\"\nmaterial = [\"x\"]\ncolour = 1".into(), "colour"),
        ] {
            let e = parse(&text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
