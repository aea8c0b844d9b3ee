//! Approvals as signed, single-use grants bound to one call, and the
//! hash-chained audit log: each attack on them is refused or detected.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use bureau_protocol::{ApprovalId, RunId};
use bureau_store::{
    ApprovalRequest, ApprovalState, AuditRecord, CallBinding, ControlStore, GrantKey, Refusal,
};
use serde_json::json;

fn store(dir: &tempfile::TempDir) -> ControlStore {
    let key = GrantKey::load_or_create(&dir.path().join("grant.key")).unwrap();
    ControlStore::open(&dir.path().join("control.db"), key).unwrap()
}

fn binding(run: RunId) -> CallBinding {
    CallBinding {
        run_id: Some(run),
        agent: "analyst".into(),
        tool: "sql.execute".into(),
        arguments_hash: "a".repeat(64),
    }
}

fn request(run: RunId) -> ApprovalRequest {
    ApprovalRequest {
        id: ApprovalId::new(),
        binding: binding(run),
        arguments: json!({"database": "main", "sql": "DELETE FROM users WHERE id = 3"}),
        reason: "deletes need a human".into(),
        policy_ids: vec!["deletes-need-approval".into()],
        created_at_ms: 1_000,
    }
}

#[test]
fn an_approved_grant_lets_its_call_through_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let approvals = store(&dir).approvals();
    let run = RunId::new();
    let req = request(run);
    let id = req.id;
    approvals.request(&req).unwrap();
    assert_eq!(
        approvals.redeem(id, &binding(run), 2_000).unwrap(),
        Err(Refusal::Pending(id))
    );
    let listed = approvals.list(Some(ApprovalState::Pending)).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].request, req);

    let approved = approvals.approve(id, "alice", 3_000, 60_000).unwrap();
    assert_eq!(approved.state, ApprovalState::Approved);
    assert_eq!(approved.grant.as_deref().map(str::len), Some(64));

    // Another call (other arguments, run, agent or tool) cannot use it.
    for other in [
        CallBinding {
            arguments_hash: "b".repeat(64),
            ..binding(run)
        },
        binding(RunId::new()),
        CallBinding {
            agent: "intern".into(),
            ..binding(run)
        },
        CallBinding {
            tool: "sql.query".into(),
            ..binding(run)
        },
    ] {
        assert_eq!(
            approvals.redeem(id, &other, 4_000).unwrap(),
            Err(Refusal::Mismatch(id))
        );
    }
    let used = approvals.redeem(id, &binding(run), 4_000).unwrap().unwrap();
    assert_eq!(used.state, ApprovalState::Used);
    // Replay: refused, from this handle and from another process's.
    assert_eq!(
        approvals.redeem(id, &binding(run), 4_001).unwrap(),
        Err(Refusal::AlreadyUsed(id))
    );
    assert_eq!(
        store(&dir)
            .approvals()
            .redeem(id, &binding(run), 4_002)
            .unwrap(),
        Err(Refusal::AlreadyUsed(id))
    );
    // Decided requests cannot be decided again.
    assert!(approvals.approve(id, "mallory", 5_000, 90_000).is_err());
    assert!(approvals.deny(id, "mallory", None, 5_000).is_err());
}

#[test]
fn denied_expired_unknown_and_tampered_grants_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let approvals = store(&dir).approvals();
    let run = RunId::new();

    let denied = request(run);
    approvals.request(&denied).unwrap();
    approvals
        .deny(denied.id, "bob", Some("not on a Friday"), 2_000)
        .unwrap();
    assert_eq!(
        approvals.redeem(denied.id, &binding(run), 3_000).unwrap(),
        Err(Refusal::Denied {
            id: denied.id,
            reason: Some("not on a Friday".into())
        })
    );

    let expiring = request(run);
    approvals.request(&expiring).unwrap();
    approvals
        .approve(expiring.id, "alice", 2_000, 10_000)
        .unwrap();
    assert_eq!(
        approvals
            .redeem(expiring.id, &binding(run), 10_000)
            .unwrap(),
        Err(Refusal::Expired(expiring.id))
    );

    let unknown = ApprovalId::new();
    assert_eq!(
        approvals.redeem(unknown, &binding(run), 1).unwrap(),
        Err(Refusal::Unknown(unknown))
    );

    // Someone with write access to the database but not the key edits an
    // approved row: to another call, or to a later expiry. The signature no
    // longer verifies.
    let edited = request(run);
    approvals.request(&edited).unwrap();
    approvals
        .approve(edited.id, "alice", 2_000, 60_000)
        .unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("control.db")).unwrap();
    conn.execute(
        "UPDATE approvals SET arguments_hash = ?1 WHERE id = ?2",
        [&"c".repeat(64), &edited.id.to_string()],
    )
    .unwrap();
    let forged = CallBinding {
        arguments_hash: "c".repeat(64),
        ..binding(run)
    };
    assert_eq!(
        approvals.redeem(edited.id, &forged, 3_000).unwrap(),
        Err(Refusal::BadSignature(edited.id))
    );
    conn.execute(
        "UPDATE approvals SET arguments_hash = ?1, expires_at_ms = 99999999 WHERE id = ?2",
        [&"a".repeat(64), &edited.id.to_string()],
    )
    .unwrap();
    assert_eq!(
        approvals.redeem(edited.id, &binding(run), 3_000).unwrap(),
        Err(Refusal::BadSignature(edited.id))
    );

    // A pending row forged straight into the database as "approved" with a
    // made-up grant is refused too.
    let minted = request(run);
    approvals.request(&minted).unwrap();
    conn.execute(
        "UPDATE approvals SET state = 'approved', expires_at_ms = 99999999, grant_mac = ?1 WHERE id = ?2",
        [&"00".repeat(32), &minted.id.to_string()],
    )
    .unwrap();
    assert_eq!(
        approvals.redeem(minted.id, &binding(run), 3_000).unwrap(),
        Err(Refusal::BadSignature(minted.id))
    );

    // A grant signed with another control plane's key is worthless here.
    let other_dir = tempfile::tempdir().unwrap();
    let other = store(&other_dir).approvals();
    let foreign = request(run);
    other.request(&foreign).unwrap();
    other.approve(foreign.id, "eve", 2_000, 60_000).unwrap();
    let grant = other.get(foreign.id).unwrap().unwrap().grant.unwrap();
    approvals.request(&foreign).unwrap();
    conn.execute(
        "UPDATE approvals SET state = 'approved', expires_at_ms = 60000, grant_mac = ?1 WHERE id = ?2",
        [&grant, &foreign.id.to_string()],
    )
    .unwrap();
    assert_eq!(
        approvals.redeem(foreign.id, &binding(run), 3_000).unwrap(),
        Err(Refusal::BadSignature(foreign.id))
    );
}

fn record(run: RunId, tool: &str, decision: &str) -> AuditRecord {
    AuditRecord {
        at_ms: 1,
        run_id: Some(run),
        agent: "analyst".into(),
        tool: tool.into(),
        arguments_hash: "h".into(),
        decision: decision.into(),
        reason: None,
        policy_ids: vec![],
        approval_id: None,
        outcome: "ok".into(),
        error: None,
        duration_us: 5,
    }
}

#[test]
fn the_audit_chain_verifies_and_detects_edits_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let log = store(&dir).audit();
    let (a, b) = (RunId::new(), RunId::new());
    for i in 0..10 {
        let run = if i % 2 == 0 { a } else { b };
        let e = log.append(&record(run, "files.read", "allowed")).unwrap();
        assert_eq!(e.seq, i + 1);
    }
    assert_eq!(log.list(Some(a), 100).unwrap().len(), 5);
    assert_eq!(
        log.list(None, 3)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>(),
        [8, 9, 10]
    );
    let report = log.verify().unwrap();
    assert_eq!(report.entries, 10);
    assert_eq!(report.first_break, None);
    assert_eq!(report.head, log.list(None, 1).unwrap()[0].hash);

    // Rewrite a denial as an allow in entry 4.
    let conn = rusqlite::Connection::open(dir.path().join("control.db")).unwrap();
    let json: String = conn
        .query_row("SELECT record FROM audit WHERE seq = 4", [], |r| r.get(0))
        .unwrap();
    conn.execute(
        "UPDATE audit SET record = ?1 WHERE seq = 4",
        [json.replace("files.read", "files.write")],
    )
    .unwrap();
    let broken = log.verify().unwrap().first_break.unwrap();
    assert_eq!(broken.seq, 4);
    assert!(broken.problem.contains("edited"), "{}", broken.problem);
    conn.execute("UPDATE audit SET record = ?1 WHERE seq = 4", [json])
        .unwrap();
    assert_eq!(log.verify().unwrap().first_break, None);

    // Delete entry 6.
    conn.execute("DELETE FROM audit WHERE seq = 6", []).unwrap();
    let broken = log.verify().unwrap().first_break.unwrap();
    assert_eq!(broken.seq, 7);
    assert!(broken.problem.contains("missing"), "{}", broken.problem);
}

#[test]
fn appends_from_two_handles_keep_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let one = store(&dir).audit();
    let two = store(&dir).audit();
    let run = RunId::new();
    let threads: Vec<_> = [one, two]
        .into_iter()
        .map(|log| {
            std::thread::spawn(move || {
                for _ in 0..50 {
                    log.append(&record(run, "files.write", "allowed")).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let report = store(&dir).audit().verify().unwrap();
    assert_eq!(report.entries, 100);
    assert_eq!(report.first_break, None);
}

#[test]
fn processes_racing_to_create_the_key_all_get_the_same_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grant.key");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || GrantKey::load_or_create(&path).map(|k| format!("{k:?}")))
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap().is_ok());
    }
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 32);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "grant.key")
        .collect();
    assert!(leftovers.is_empty(), "temporary key files left behind");
}
