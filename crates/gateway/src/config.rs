use std::path::PathBuf;
use std::time::Duration;

use bureau_tools::FilesLimits;

/// What a gateway needs to start. Built by the composition root (`cli`)
/// from the validated configuration; the gateway reads nothing else.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Per-run workspaces live at `{workspaces_root}/{run_id}` (run id from
    /// the call's `_meta[bureau_protocol::meta::RUN_ID]`, validated as a
    /// `RunId` — never used as a path). Created if missing.
    pub workspaces_root: PathBuf,
    /// Used when a call carries no run id (e.g. Claude Desktop using
    /// `bureau mcp serve`). Created if missing.
    pub default_workspace: PathBuf,
    /// Tool-name patterns this gateway permits: an exact name
    /// (`"files.read"`), a prefix ending in `*` (`"files.*"`), or `"*"`.
    /// Anything else is denied — default deny.
    pub allowed_tools: Vec<String>,
    /// Size limits of the files tools.
    pub files: FilesLimits,
    /// How long a tool that runs on the blocking pool may take before the
    /// call ends in an error result. Inline tools are bounded by their caps.
    pub call_timeout: Duration,
    /// The agent policy decides for when a call's `_meta` names none
    /// (clients other than Bureau's orchestrator).
    pub default_agent: String,
}

impl GatewayConfig {
    /// A configuration with default limits and a 30 s call timeout.
    pub fn new(
        workspaces_root: impl Into<PathBuf>,
        default_workspace: impl Into<PathBuf>,
        allowed_tools: Vec<String>,
    ) -> Self {
        Self {
            workspaces_root: workspaces_root.into(),
            default_workspace: default_workspace.into(),
            allowed_tools,
            files: FilesLimits::default(),
            call_timeout: Duration::from_secs(30),
            default_agent: "default".to_owned(),
        }
    }
}
