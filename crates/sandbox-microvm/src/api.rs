//! A typed client for the parts of Firecracker's API this backend uses
//! (`src/firecracker/swagger/firecracker.yaml` upstream): machine config,
//! boot source, drives, vsock and actions. Every call is pre-boot except
//! the actions; errors carry Firecracker's `fault_message`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::MicrovmError;
use crate::http;

/// `PUT /machine-config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineConfig {
    pub vcpu_count: u8,
    pub mem_size_mib: u32,
    /// Simultaneous multithreading; off unless asked for.
    pub smt: bool,
}

/// `PUT /boot-source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootSource {
    pub kernel_image_path: PathBuf,
    pub boot_args: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initrd_path: Option<PathBuf>,
}

/// `PUT /drives/{drive_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drive {
    pub drive_id: String,
    pub path_on_host: PathBuf,
    pub is_root_device: bool,
    pub is_read_only: bool,
}

/// `PUT /vsock`: Firecracker listens on `uds_path` for host-initiated
/// connections (see [`crate::vsock`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vsock {
    /// 3 or more; 0–2 are reserved.
    pub guest_cid: u32,
    pub uds_path: PathBuf,
}

/// `PUT /actions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionType {
    InstanceStart,
    /// Asks the guest to shut down (on x86 through the i8042 keyboard reset).
    SendCtrlAltDel,
    FlushMetrics,
}

#[derive(Debug, Serialize)]
struct Action {
    action_type: ActionType,
}

/// `GET /`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InstanceInfo {
    pub id: String,
    pub state: String,
    pub vmm_version: String,
    #[serde(default)]
    pub app_name: String,
}

#[derive(Debug, Deserialize)]
struct Fault {
    fault_message: String,
}

/// A Firecracker API endpoint (its `--api-sock`).
#[derive(Debug, Clone)]
pub struct ApiClient {
    socket: PathBuf,
    timeout: Duration,
}

impl ApiClient {
    pub fn new(socket: PathBuf, timeout: Duration) -> Self {
        Self { socket, timeout }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    pub fn put_machine_config(&self, config: &MachineConfig) -> Result<(), MicrovmError> {
        self.put("/machine-config", config)
    }

    pub fn put_boot_source(&self, boot: &BootSource) -> Result<(), MicrovmError> {
        self.put("/boot-source", boot)
    }

    pub fn put_drive(&self, drive: &Drive) -> Result<(), MicrovmError> {
        let id = &drive.drive_id;
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(MicrovmError::InvalidRequest(format!(
                "drive id {id:?} must be letters, digits and '_'"
            )));
        }
        self.put(&format!("/drives/{id}"), drive)
    }

    pub fn put_vsock(&self, vsock: &Vsock) -> Result<(), MicrovmError> {
        if vsock.guest_cid < 3 {
            return Err(MicrovmError::InvalidRequest(format!(
                "guest CID {} is reserved; use 3 or more",
                vsock.guest_cid
            )));
        }
        self.put("/vsock", vsock)
    }

    pub fn action(&self, action_type: ActionType) -> Result<(), MicrovmError> {
        self.put("/actions", &Action { action_type })
    }

    pub fn instance_info(&self) -> Result<InstanceInfo, MicrovmError> {
        let response = http::request(&self.socket, self.timeout, "GET", "/", None)?;
        let body = check("GET", "/", response)?;
        serde_json::from_slice(&body)
            .map_err(|e| MicrovmError::Http(format!("GET / answered undecodable JSON: {e}")))
    }

    fn put<T: Serialize>(&self, path: &str, body: &T) -> Result<(), MicrovmError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| MicrovmError::InvalidRequest(format!("cannot encode {path}: {e}")))?;
        let response = http::request(&self.socket, self.timeout, "PUT", path, Some(&body))?;
        check("PUT", path, response).map(drop)
    }
}

/// A 2xx answer's body, or the typed fault.
fn check(
    method: &'static str,
    path: &str,
    response: http::Response,
) -> Result<Vec<u8>, MicrovmError> {
    if (200..300).contains(&response.status) {
        return Ok(response.body);
    }
    let fault_message = serde_json::from_slice::<Fault>(&response.body)
        .map(|f| f.fault_message)
        .unwrap_or_else(|_| String::from_utf8_lossy(&response.body).trim().to_owned());
    Err(MicrovmError::Api {
        method,
        path: path.to_owned(),
        status: response.status,
        fault_message,
    })
}
