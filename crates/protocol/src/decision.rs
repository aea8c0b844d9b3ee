use serde::{Deserialize, Serialize};

/// What policy says about one tool call. Plain data: the gateway acts on
/// it, the audit log stores it, a UI shows it. Match it exhaustively.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Decision {
    /// The call may run.
    Allow,
    /// The call must not run. `policy_ids` are the policies that decided
    /// (empty when nothing permitted the call: default deny); `reason` is
    /// fit to show the model and the user.
    Deny {
        policy_ids: Vec<String>,
        reason: String,
    },
    /// The call may run once a human approves it; `policy_ids` are the
    /// approval policies that hold it back.
    RequireApproval {
        policy_ids: Vec<String>,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_are_tagged_json() {
        let d = Decision::RequireApproval {
            policy_ids: vec!["writes".into()],
            reason: "writes need a human".into(),
        };
        let json = serde_json::to_value(&d).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"outcome": "require_approval", "policy_ids": ["writes"], "reason": "writes need a human"})
        );
        assert_eq!(serde_json::from_value::<Decision>(json).unwrap(), d);
        assert_eq!(
            serde_json::to_value(Decision::Allow).unwrap(),
            serde_json::json!({"outcome": "allow"})
        );
    }
}
