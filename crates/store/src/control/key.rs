//! The control plane's signing key for approval grants.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::StoreError;

/// A 32-byte HMAC-SHA256 key. It lives in the data directory (mode 0600)
/// and never leaves the control plane: the model, MCP clients and tool
/// results never see it, so none of them can mint or alter a grant.
pub struct GrantKey([u8; 32]);

impl std::fmt::Debug for GrantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GrantKey(..)")
    }
}

impl GrantKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads the key at `path`, creating a random one (0600) when absent.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        let err = |e: std::io::Error| StoreError::Key {
            path: path.to_path_buf(),
            source: Arc::new(e),
        };
        match std::fs::read(path) {
            Ok(bytes) => {
                let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| StoreError::Key {
                    path: path.to_path_buf(),
                    source: Arc::new(std::io::Error::other(format!(
                        "the key file holds {} bytes, not 32",
                        b.len()
                    ))),
                })?;
                Ok(Self(arr))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                // A name of this process's own: several processes may race
                // to create the key; the first link wins, the others read it.
                let tmp = path.with_extension(format!(
                    "tmp.{}.{:016x}",
                    std::process::id(),
                    rand::random::<u64>()
                ));
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&tmp)
                        .map_err(err)?;
                    f.write_all(&key).map_err(err)?;
                    f.sync_all().map_err(err)?;
                }
                // Another process may have created it meanwhile: first wins.
                let linked = std::fs::hard_link(&tmp, path);
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(err(e)),
                }
                Self::load_or_create(path)
            }
            Err(e) => Err(err(e)),
        }
    }

    pub(crate) fn sign(&self, message: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(message);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Constant-time check of a hex MAC.
    pub(crate) fn verify(&self, message: &[u8], mac_hex: &str) -> bool {
        let Ok(tag) = hex::decode(mac_hex) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(message);
        mac.verify_slice(&tag).is_ok()
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC zero-pads a short key to the hash's block size (64 bytes);
        // doing it here gives the fixed-size key `KeyInit::new` takes.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&self.0);
        <Hmac<Sha256> as hmac::digest::KeyInit>::new(&block.into())
    }
}
