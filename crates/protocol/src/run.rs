use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{RunId, Usage};

/// Where a run stands. Every status but `Running` and `Queued` is final for
/// the loop that set it; `AwaitingApproval` can be resumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Completed,
    MaxTurns,
    TokenBudget,
    CostBudget,
    Deadline,
    LoopDetected,
    Failed,
    AwaitingApproval,
    Cancelled,
}

impl RunStatus {
    pub const ALL: [RunStatus; 11] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::MaxTurns,
        RunStatus::TokenBudget,
        RunStatus::CostBudget,
        RunStatus::Deadline,
        RunStatus::LoopDetected,
        RunStatus::Failed,
        RunStatus::AwaitingApproval,
        RunStatus::Cancelled,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::MaxTurns => "max_turns",
            RunStatus::TokenBudget => "token_budget",
            RunStatus::CostBudget => "cost_budget",
            RunStatus::Deadline => "deadline",
            RunStatus::LoopDetected => "loop_detected",
            RunStatus::Failed => "failed",
            RunStatus::AwaitingApproval => "awaiting_approval",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// A run in this status will not move again on its own.
    pub fn is_terminal(&self) -> bool {
        !matches!(
            self,
            RunStatus::Queued | RunStatus::Running | RunStatus::AwaitingApproval
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown run status `{s}`"))
    }
}

/// The stable summary of a run: what `bureau run --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run_id: RunId,
    pub status: RunStatus,
    /// One sentence: why the run ended where it did.
    pub reason: String,
    pub turns: u32,
    pub usage: Usage,
    #[serde(default)]
    pub cost_usd: f64,
    pub answer: Option<String>,
    pub agent: String,
    pub model: String,
    /// True when the model was the scripted offline model.
    pub scripted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_strings_round_trip_through_serde_and_fromstr() {
        for st in RunStatus::ALL {
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
            assert_eq!(st.as_str().parse::<RunStatus>().unwrap(), st);
        }
    }
}
