//! Human approvals: a held call becomes a pending request; a human's
//! approval turns it into a grant signed by the control plane, bound to the
//! exact call and usable once before it expires.

use std::sync::Arc;

use bureau_protocol::{ApprovalId, RunId};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Db, GrantKey};
use crate::StoreError;

/// A call held for a human, as the gateway records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub id: ApprovalId,
    pub binding: CallBinding,
    /// The call's arguments, for the human to read (canonical JSON).
    pub arguments: Value,
    /// Why policy holds it (the `@reason`s of the `@approval` policies).
    pub reason: String,
    pub policy_ids: Vec<String>,
    pub created_at_ms: i64,
}

/// What a grant is bound to: exactly one call of one agent in one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallBinding {
    pub run_id: Option<RunId>,
    pub agent: String,
    pub tool: String,
    /// `bureau_protocol::arguments_hash(tool, arguments)`.
    pub arguments_hash: String,
}

impl CallBinding {
    /// The signed message: every bound field, the approval id and expiry,
    /// unambiguously separated (fields cannot contain `\n`: ids, names and
    /// a hex hash).
    fn message(&self, id: ApprovalId, expires_at_ms: i64) -> Vec<u8> {
        format!(
            "bureau-grant-v1\n{id}\n{}\n{}\n{}\n{}\n{expires_at_ms}",
            self.run_id.map(|r| r.to_string()).unwrap_or_default(),
            self.agent,
            self.tool,
            self.arguments_hash
        )
        .into_bytes()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved,
    Denied,
    /// Approved, then presented with its call and let through: spent.
    Used,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Used => "used",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => ApprovalState::Pending,
            "approved" => ApprovalState::Approved,
            "denied" => ApprovalState::Denied,
            "used" => ApprovalState::Used,
            _ => return None,
        })
    }
}

/// An approval request and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub request: ApprovalRequest,
    pub state: ApprovalState,
    pub decided_by: Option<String>,
    pub decided_at_ms: Option<i64>,
    /// The denier's reason.
    pub note: Option<String>,
    pub expires_at_ms: Option<i64>,
    /// HMAC-SHA256 (hex) over the binding, id and expiry.
    pub grant: Option<String>,
    pub used_at_ms: Option<i64>,
}

/// Why a presented approval does not let a call through. Each message is
/// fit for the model: it says what happened and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("approval {0} does not exist; a call cannot approve itself — wait for a human")]
    Unknown(ApprovalId),
    #[error("approval {0} is still waiting for a human's decision")]
    Pending(ApprovalId),
    #[error("a human denied this call (approval {id}){}; do not retry it — find another way or stop", .reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Denied {
        id: ApprovalId,
        reason: Option<String>,
    },
    #[error("approval {0} expired before the call was made; ask for a new approval")]
    Expired(ApprovalId),
    #[error("approval {0} was already used; an approval lets exactly one call through")]
    AlreadyUsed(ApprovalId),
    #[error(
        "approval {0} was granted for a different call (tool, arguments, run or agent differ); it cannot be reused"
    )]
    Mismatch(ApprovalId),
    #[error(
        "approval {0} carries an invalid signature; it was not issued by this control plane and is refused"
    )]
    BadSignature(ApprovalId),
}

/// Approval records in `control.db`.
#[derive(Clone)]
pub struct Approvals {
    db: Arc<Db>,
    key: Arc<GrantKey>,
}

const COLUMNS: &str = "id, run_id, agent, tool, arguments_hash, arguments, reason, policy_ids, created_at_ms, state, decided_by, decided_at_ms, note, expires_at_ms, grant_mac, used_at_ms";

impl Approvals {
    pub(super) fn new(db: Arc<Db>, key: Arc<GrantKey>) -> Self {
        Self { db, key }
    }

    /// Records a pending request.
    pub fn request(&self, req: &ApprovalRequest) -> Result<(), StoreError> {
        let conn = self.db.lock();
        conn.execute(
            "INSERT INTO approvals (id, run_id, agent, tool, arguments_hash, arguments, reason, policy_ids, created_at_ms, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending')",
            params![
                req.id.to_string(),
                req.binding.run_id.map(|r| r.to_string()),
                req.binding.agent,
                req.binding.tool,
                req.binding.arguments_hash,
                req.arguments.to_string(),
                req.reason,
                serde_json::to_string(&req.policy_ids).unwrap_or_else(|_| "[]".into()),
                req.created_at_ms,
            ],
        )
        .map_err(self.db.err("record an approval request"))?;
        Ok(())
    }

    pub fn get(&self, id: ApprovalId) -> Result<Option<Approval>, StoreError> {
        let conn = self.db.lock();
        conn.query_row(
            &format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"),
            [id.to_string()],
            read_row,
        )
        .optional()
        .map_err(self.db.err("read an approval"))?
        .transpose()
    }

    /// Approvals in `state` (every state when `None`), oldest first.
    pub fn list(&self, state: Option<ApprovalState>) -> Result<Vec<Approval>, StoreError> {
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM approvals WHERE ?1 IS NULL OR state = ?1 ORDER BY created_at_ms, id"
            ))
            .map_err(self.db.err("list approvals"))?;
        let rows = stmt
            .query_map([state.map(ApprovalState::as_str)], read_row)
            .map_err(self.db.err("list approvals"))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(self.db.err("list approvals"))??);
        }
        Ok(out)
    }

    /// A human approves: signs a grant valid until `expires_at_ms`. Only a
    /// pending request can be approved.
    pub fn approve(
        &self,
        id: ApprovalId,
        by: &str,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<Approval, StoreError> {
        let current = self.pending(id)?;
        let grant = self
            .key
            .sign(&current.request.binding.message(id, expires_at_ms));
        let conn = self.db.lock();
        let n = conn
            .execute(
                "UPDATE approvals SET state = 'approved', decided_by = ?2, decided_at_ms = ?3, expires_at_ms = ?4, grant_mac = ?5
                 WHERE id = ?1 AND state = 'pending'",
                params![id.to_string(), by, now_ms, expires_at_ms, grant],
            )
            .map_err(self.db.err("approve"))?;
        drop(conn);
        if n != 1 {
            return Err(StoreError::NotPending { id: id.to_string() });
        }
        self.get(id)?
            .ok_or(StoreError::NotPending { id: id.to_string() })
    }

    /// A human denies; `reason` goes back to the model.
    pub fn deny(
        &self,
        id: ApprovalId,
        by: &str,
        reason: Option<&str>,
        now_ms: i64,
    ) -> Result<Approval, StoreError> {
        self.pending(id)?;
        let conn = self.db.lock();
        let n = conn
            .execute(
                "UPDATE approvals SET state = 'denied', decided_by = ?2, decided_at_ms = ?3, note = ?4
                 WHERE id = ?1 AND state = 'pending'",
                params![id.to_string(), by, now_ms, reason],
            )
            .map_err(self.db.err("deny"))?;
        drop(conn);
        if n != 1 {
            return Err(StoreError::NotPending { id: id.to_string() });
        }
        self.get(id)?
            .ok_or(StoreError::NotPending { id: id.to_string() })
    }

    fn pending(&self, id: ApprovalId) -> Result<Approval, StoreError> {
        match self.get(id)? {
            Some(a) if a.state == ApprovalState::Pending => Ok(a),
            Some(_) | None => Err(StoreError::NotPending { id: id.to_string() }),
        }
    }

    /// Lets one call through on approval `id`: the call must match the
    /// grant's binding, the grant's signature must verify, it must not have
    /// expired, and it is spent atomically (a second presentation, from any
    /// process, is [`Refusal::AlreadyUsed`]).
    pub fn redeem(
        &self,
        id: ApprovalId,
        call: &CallBinding,
        now_ms: i64,
    ) -> Result<Result<Approval, Refusal>, StoreError> {
        let Some(a) = self.get(id)? else {
            return Ok(Err(Refusal::Unknown(id)));
        };
        match a.state {
            ApprovalState::Pending => return Ok(Err(Refusal::Pending(id))),
            ApprovalState::Denied => {
                return Ok(Err(Refusal::Denied {
                    id,
                    reason: a.note.clone(),
                }));
            }
            ApprovalState::Used => return Ok(Err(Refusal::AlreadyUsed(id))),
            ApprovalState::Approved => {}
        }
        if &a.request.binding != call {
            return Ok(Err(Refusal::Mismatch(id)));
        }
        let (Some(expires), Some(grant)) = (a.expires_at_ms, a.grant.as_deref()) else {
            return Ok(Err(Refusal::BadSignature(id)));
        };
        // The signature covers the stored binding: an edited row (another
        // tool, other arguments, a later expiry) no longer verifies.
        if !self.key.verify(&call.message(id, expires), grant) {
            return Ok(Err(Refusal::BadSignature(id)));
        }
        if now_ms >= expires {
            return Ok(Err(Refusal::Expired(id)));
        }
        let conn = self.db.lock();
        let n = conn
            .execute(
                "UPDATE approvals SET state = 'used', used_at_ms = ?2 WHERE id = ?1 AND state = 'approved'",
                params![id.to_string(), now_ms],
            )
            .map_err(self.db.err("spend an approval"))?;
        drop(conn);
        if n != 1 {
            return Ok(Err(Refusal::AlreadyUsed(id)));
        }
        Ok(Ok(Approval {
            state: ApprovalState::Used,
            used_at_ms: Some(now_ms),
            ..a
        }))
    }
}

type Row = Result<Approval, StoreError>;

fn read_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    let id: String = row.get(0)?;
    let run_id: Option<String> = row.get(1)?;
    let arguments: String = row.get(5)?;
    let policy_ids: String = row.get(7)?;
    let state: String = row.get(9)?;
    let decode = |what: &str| StoreError::Decode {
        what: format!("approval {id} ({what})"),
        detail: "unexpected value".into(),
    };
    let parsed = (|| {
        let id_parsed: ApprovalId = id.parse().map_err(|_| decode("id"))?;
        let run_id = match run_id {
            Some(r) => Some(r.parse::<RunId>().map_err(|_| decode("run id"))?),
            None => None,
        };
        Ok(Approval {
            request: ApprovalRequest {
                id: id_parsed,
                binding: CallBinding {
                    run_id,
                    agent: row.get(2).map_err(|_| decode("agent"))?,
                    tool: row.get(3).map_err(|_| decode("tool"))?,
                    arguments_hash: row.get(4).map_err(|_| decode("hash"))?,
                },
                arguments: serde_json::from_str(&arguments).map_err(|_| decode("arguments"))?,
                reason: row.get(6).map_err(|_| decode("reason"))?,
                policy_ids: serde_json::from_str(&policy_ids).map_err(|_| decode("policy ids"))?,
                created_at_ms: row.get(8).map_err(|_| decode("created"))?,
            },
            state: ApprovalState::parse(&state).ok_or_else(|| decode("state"))?,
            decided_by: row.get(10).map_err(|_| decode("decided_by"))?,
            decided_at_ms: row.get(11).map_err(|_| decode("decided_at"))?,
            note: row.get(12).map_err(|_| decode("note"))?,
            expires_at_ms: row.get(13).map_err(|_| decode("expires"))?,
            grant: row.get(14).map_err(|_| decode("grant"))?,
            used_at_ms: row.get(15).map_err(|_| decode("used_at"))?,
        })
    })();
    Ok(parsed)
}
