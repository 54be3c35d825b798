//! The keys StartStreamEncryption may name: customer keys from the `[kms]` key file
//! (each with its versions: the newest encrypts, every one decrypts) and the
//! AWS-managed `alias/aws/kinesis`, derived from the catalog's own secret so that it
//! needs no configuration and is the same on every node of a shared catalog.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ring::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use super::envelope::{self, Fingerprint, Salt};
use super::KmsError;

/// The alias of the key AWS manages for Kinesis; always present.
pub const MANAGED_ALIAS: &str = "alias/aws/kinesis";

/// A data key seals this many records, then a fresh one (new salt) takes over: its
/// nonces are a counter, so they never repeat under one data key.
const RECORDS_PER_DATA_KEY: u64 = 1 << 32;
/// Data keys kept derived for reading; past this the cache starts over.
const OPENED_CACHE: usize = 4096;

/// A configured customer key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// The key id (a GUID, as KMS gives), also matched in key ARNs.
    pub id: String,
    /// `alias/<name>` names that resolve to it, also matched in alias ARNs.
    pub aliases: Vec<String>,
    /// Its versions, oldest first: the last encrypts new records.
    pub material: Vec<[u8; 32]>,
    /// A disabled key answers KMSDisabledException to new encryption and to reads.
    pub enabled: bool,
}

/// One version of a key's material.
struct Version {
    fingerprint: Fingerprint,
    prk: hkdf::Prk,
}

struct Key {
    id: String,
    enabled: bool,
    newest: Arc<Sealer>,
}

/// What encrypts records for one key: its newest version and the data key in use.
pub struct Sealer {
    version: Arc<Version>,
    current: Mutex<Option<DataKey>>,
}

struct DataKey {
    salt: Salt,
    key: Arc<LessSafeKey>,
    /// Nonces handed out so far (the next is this).
    used: u64,
}

/// Every key this server knows, by name and by version fingerprint.
pub struct Keyring {
    by_name: HashMap<String, Arc<Key>>,
    by_fingerprint: HashMap<Fingerprint, (Arc<Version>, bool)>,
    opened: Mutex<HashMap<(Fingerprint, Salt), Arc<LessSafeKey>>>,
    rng: SystemRandom,
}

impl Keyring {
    /// The configured keys plus the managed one, whose material comes from `secret`
    /// (the catalog's token key) through HKDF under its own label.
    pub fn new(specs: &[KeySpec], secret: &[u8]) -> Result<Keyring, String> {
        let mut ring = Keyring {
            by_name: HashMap::new(),
            by_fingerprint: HashMap::new(),
            opened: Mutex::new(HashMap::new()),
            rng: SystemRandom::new(),
        };
        let mut managed = [0u8; 32];
        hkdf::Salt::new(hkdf::HKDF_SHA256, b"shoal kms")
            .extract(secret)
            .expand(&[MANAGED_ALIAS.as_bytes()], hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut managed))
            .map_err(|_| "cannot derive the managed key".to_string())?;
        ring.add(MANAGED_ALIAS, &[], &[managed], true)?;
        for s in specs {
            ring.add(&s.id, &s.aliases, &s.material, s.enabled)?;
        }
        Ok(ring)
    }

    fn add(
        &mut self,
        id: &str,
        aliases: &[String],
        material: &[[u8; 32]],
        enabled: bool,
    ) -> Result<(), String> {
        let mut newest = None;
        for m in material {
            let version = Arc::new(Version {
                fingerprint: fingerprint(m),
                prk: hkdf::Salt::new(hkdf::HKDF_SHA256, b"shoal record keys").extract(m),
            });
            if self.by_fingerprint.contains_key(&version.fingerprint) {
                return Err(format!(
                    "kms: key {id} repeats material another key or version has"
                ));
            }
            self.by_fingerprint
                .insert(version.fingerprint, (version.clone(), enabled));
            newest = Some(version);
        }
        let version = newest.ok_or_else(|| format!("kms: key {id} has no material"))?;
        let key = Arc::new(Key {
            id: id.to_string(),
            enabled,
            newest: Arc::new(Sealer {
                version,
                current: Mutex::new(None),
            }),
        });
        for name in std::iter::once(id).chain(aliases.iter().map(String::as_str)) {
            if self.by_name.insert(name.to_string(), key.clone()).is_some() {
                return Err(format!("kms: the key name {name} is given twice"));
            }
        }
        Ok(())
    }

    /// The key a StartStreamEncryption KeyId names (a key id, `alias/<name>`, or the
    /// ARN of either; the ARN's region and account are not compared), ready to
    /// encrypt, or KMS's answer when it is unknown or disabled.
    pub fn sealer(&self, key_id: &str) -> Result<Arc<Sealer>, KmsError> {
        let name = match key_id.strip_prefix("arn:") {
            Some(rest) => {
                let resource = rest.splitn(5, ':').nth(4).unwrap_or_default();
                resource.strip_prefix("key/").unwrap_or(resource)
            }
            None => key_id,
        };
        let key = self
            .by_name
            .get(name)
            .ok_or_else(|| KmsError::NotFound(format!("Key '{key_id}' does not exist")))?;
        if !key.enabled {
            return Err(KmsError::Disabled(format!("{} is disabled.", key.id)));
        }
        Ok(key.newest.clone())
    }

    /// Seals each `(partition key, data)` stored at `context` (`envelope::context`)
    /// with `sealer`'s newest data key. Only the nonces are taken under the lock, so
    /// streams sharing a key seal their batches side by side.
    pub fn seal<'a>(
        &self,
        sealer: &Sealer,
        context: &[u8],
        records: &[(&'a [u8], &'a [u8])],
    ) -> Result<Vec<envelope::Sealed>, KmsError> {
        let n = records.len() as u64;
        let (key, salt, first) = {
            let mut current = sealer.current.lock().unwrap_or_else(|p| p.into_inner());
            let dk = match current.as_mut() {
                Some(dk) if dk.used + n <= RECORDS_PER_DATA_KEY => dk,
                _ => current.insert(self.data_key(&sealer.version)?),
            };
            let first = dk.used;
            dk.used += n;
            (dk.key.clone(), dk.salt, first)
        };
        let fp = sealer.version.fingerprint;
        Ok(records
            .iter()
            .zip(first..)
            .map(|((k, d), counter)| envelope::seal(&key, (fp, salt, counter), context, k, d))
            .collect())
    }

    fn data_key(&self, version: &Version) -> Result<DataKey, KmsError> {
        let mut salt = [0u8; 16];
        self.rng
            .fill(&mut salt)
            .map_err(|_| KmsError::Damaged("no randomness for a data key".into()))?;
        Ok(DataKey {
            salt,
            key: Arc::new(derive(version, &salt)),
            used: 0,
        })
    }

    /// Opens an envelope written by [`Keyring::seal`] at `context`: `(partition key,
    /// data)`.
    pub fn open(
        &self,
        context: &[u8],
        key: &[u8],
        sealed: &[u8],
    ) -> Result<(Vec<u8>, bytes::Bytes), KmsError> {
        let head = envelope::Header::parse(key)
            .ok_or_else(|| KmsError::Damaged("a stored record's envelope is malformed".into()))?;
        let data_key = self.opened_key(head.fingerprint, head.salt)?;
        envelope::open(&data_key, key, context, sealed)
    }

    fn opened_key(&self, fp: Fingerprint, salt: Salt) -> Result<Arc<LessSafeKey>, KmsError> {
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = opened.get(&(fp, salt)) {
            return Ok(k.clone());
        }
        let (version, enabled) = self.by_fingerprint.get(&fp).ok_or_else(|| {
            KmsError::NotFound(format!(
                "The KMS key version that encrypted this record (fingerprint {}) is not configured.",
                hex(&fp)
            ))
        })?;
        if !enabled {
            return Err(KmsError::Disabled(
                "The KMS key that encrypted this record is disabled.".into(),
            ));
        }
        if opened.len() >= OPENED_CACHE {
            opened.clear();
        }
        let key = Arc::new(derive(version, &salt));
        opened.insert((fp, salt), key.clone());
        Ok(key)
    }
}

/// The data key of one salt under one key version.
fn derive(version: &Version, salt: &Salt) -> LessSafeKey {
    let info: [&[u8]; 2] = [b"record key", salt];
    let okm = version
        .prk
        .expand(&info, &AES_256_GCM)
        .expect("AES-256 key length is a valid HKDF output");
    LessSafeKey::new(UnboundKey::from(okm))
}

/// Names a key version in each envelope without revealing anything of it.
fn fingerprint(material: &[u8; 32]) -> Fingerprint {
    let digest = Sha256::new()
        .chain_update(b"shoal kms fingerprint")
        .chain_update(material)
        .finalize();
    digest[..8].try_into().expect("8 of 32 bytes")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str, material: &[[u8; 32]]) -> KeySpec {
        KeySpec {
            id: id.into(),
            aliases: vec![format!("alias/{id}")],
            material: material.to_vec(),
            enabled: true,
        }
    }

    #[test]
    fn names_ids_arns_and_aliases_resolve_and_unknown_keys_do_not() {
        let ring = Keyring::new(&[spec("k1", &[[1; 32]])], b"secret").unwrap();
        for name in [
            "k1",
            "alias/k1",
            "arn:aws:kms:us-east-1:000000000000:key/k1",
            "arn:aws:kms:eu-west-1:111111111111:alias/k1",
            MANAGED_ALIAS,
            "arn:aws:kms:us-east-1:000000000000:alias/aws/kinesis",
        ] {
            assert!(ring.sealer(name).is_ok(), "{name}");
        }
        assert!(matches!(
            ring.sealer("alias/nope"),
            Err(KmsError::NotFound(_))
        ));
        let mut off = spec("k2", &[[2; 32]]);
        off.enabled = false;
        let ring = Keyring::new(&[off], b"secret").unwrap();
        assert!(matches!(ring.sealer("k2"), Err(KmsError::Disabled(_))));
    }

    #[test]
    fn records_sealed_under_an_older_version_still_open_after_rotation() {
        let old = Keyring::new(&[spec("k", &[[1; 32]])], b"s").unwrap();
        let sealed = old
            .seal(
                &old.sealer("k").unwrap(),
                b"c",
                &[(&b"pk"[..], &b"data"[..])],
            )
            .unwrap();
        let rotated = Keyring::new(&[spec("k", &[[1; 32], [2; 32]])], b"s").unwrap();
        let (k, d) = &sealed[0];
        assert_eq!(
            rotated.open(b"c", k, d).unwrap(),
            (b"pk".to_vec(), bytes::Bytes::from_static(b"data"))
        );
        // The newest version encrypts: a keyring without the old one opens new records.
        let newer = rotated
            .seal(
                &rotated.sealer("k").unwrap(),
                b"c",
                &[(&b"pk"[..], &b"new"[..])],
            )
            .unwrap();
        let only_new = Keyring::new(&[spec("k", &[[2; 32]])], b"s").unwrap();
        assert!(only_new.open(b"c", &newer[0].0, &newer[0].1).is_ok());
        assert!(matches!(
            only_new.open(b"c", k, d),
            Err(KmsError::NotFound(_))
        ));
    }

    #[test]
    fn the_managed_key_follows_the_secret() {
        let a = Keyring::new(&[], b"one").unwrap();
        let sealed = a
            .seal(
                &a.sealer(MANAGED_ALIAS).unwrap(),
                b"c",
                &[(&b"k"[..], &b"v"[..])],
            )
            .unwrap();
        let same = Keyring::new(&[], b"one").unwrap();
        assert!(same.open(b"c", &sealed[0].0, &sealed[0].1).is_ok());
        let other = Keyring::new(&[], b"two").unwrap();
        assert!(other.open(b"c", &sealed[0].0, &sealed[0].1).is_err());
    }
}
