//! Query expansion: groups of words that mean the same thing when an agent
//! describes a step and a tool author describes a tool ("folder" and
//! "directory", "ticket" and "issue", "PR" and "pull request").
//!
//! The table is general software and office vocabulary, written as data and
//! reviewed like code. It must not name tools or servers of any particular
//! catalog, and no entry may exist only to rescue one evaluation query: the
//! held-out split of `eval/queries.jsonl` checks that it generalises.
//!
//! A query word that is a single-word member of a group adds every word of
//! the group's other members to the query, at a reduced weight
//! ([`crate::IndexOptions::expansion_weight`]).

use std::collections::HashMap;

use crate::text::{Stemming, terms};

/// Groups of interchangeable words and phrases.
pub const GROUPS: &[&[&str]] = &[
    // Things.
    &["folder", "directory", "dir", "subdirectory"],
    &["file", "document"],
    &["issue", "ticket", "bug", "story", "task", "epic"],
    &["pull request", "pr", "merge request", "patch"],
    &["repository", "repo", "project"],
    &["message", "post", "announcement", "note", "chat"],
    &["email", "mail", "inbox", "mailbox", "e-mail"],
    &[
        "meeting",
        "event",
        "appointment",
        "invite",
        "invitation",
        "sync",
        "call",
        "offsite",
    ],
    &["calendar", "schedule", "agenda"],
    &["channel", "room"],
    &["table", "relation"],
    &["row", "record", "entry"],
    &["column", "field", "attribute"],
    &["picture", "image", "screenshot", "photo", "logo"],
    &["link", "url", "address"],
    &["web", "internet", "online"],
    &["site", "website", "page", "webpage"],
    &["user", "member", "people", "person", "teammate"],
    &["label", "tag", "category", "folder"],
    &["log", "logs", "output"],
    &["error", "exception", "failure", "crash"],
    &["environment", "env", "variable"],
    &["size", "big", "large", "space", "bytes", "disk"],
    &["permission", "permitted", "allowed", "access", "policy"],
    &["history", "recent", "latest", "changes"],
    &["status", "state", "stage"],
    &["comment", "remark", "note"],
    &["reaction", "emoji", "react"],
    &["topic", "heading", "purpose"],
    &["timezone", "zone", "clock"],
    &["button", "link", "element", "checkbox"],
    &["dropdown", "select", "option", "menu"],
    &["tab", "window"],
    &["attachment", "attached", "attach"],
    &["commit", "revision", "sha"],
    &["version", "release", "tag"],
    &["workflow", "ci", "pipeline", "build", "actions", "job"],
    &["sql", "query", "select", "database", "db"],
    &["archive", "backup", "dump"],
    // Actions.
    &[
        "create", "make", "new", "add", "open", "start", "spin", "book", "file", "log",
    ],
    &[
        "delete", "remove", "erase", "drop", "trash", "discard", "purge",
    ],
    &[
        "read", "view", "show", "display", "see", "open", "load", "look",
    ],
    &["write", "save", "store", "persist", "overwrite"],
    &[
        "edit", "modify", "change", "update", "alter", "patch", "fix",
    ],
    &["move", "rename", "relocate", "transition", "mark"],
    &["copy", "duplicate", "clone", "fork"],
    &["search", "find", "locate", "lookup", "look"],
    &["list", "enumerate", "exist", "inventory"],
    &["download", "fetch", "retrieve", "grab", "pull"],
    &["upload", "put", "push", "publish", "share"],
    &["send", "email", "mail", "deliver", "write"],
    &["reply", "respond", "answer", "rsvp"],
    &["forward", "pass", "relay"],
    &["cancel", "stop", "kill", "abort", "terminate", "decline"],
    &["run", "execute", "evaluate", "invoke"],
    &["retry", "rerun", "again", "restart"],
    &["assign", "give", "ownership", "assignee", "owner"],
    &["approve", "accept", "lgtm"],
    &["merge", "land", "squash", "rebase"],
    &["schedule", "later", "queue", "delay", "reschedule"],
    &["reschedule", "postpone", "push", "move"],
    &["free", "available", "availability", "busy", "gap"],
    &["compress", "gzip", "zip"],
    &["sum", "add", "total", "plus"],
    &["convert", "translate", "equivalent", "corresponds"],
    &["type", "enter", "fill", "input"],
    &["navigate", "go", "visit", "browse"],
    &["capture", "screenshot", "snapshot"],
    &["count", "number", "tally"],
    &["current", "now", "today", "currently"],
    &["slow", "performance", "plan", "index"],
    &["info", "metadata", "details", "information"],
];

/// Stemmed single query word → stemmed words it expands to.
pub(crate) type Expansions = HashMap<String, Vec<String>>;

pub(crate) fn expansions(stemming: Stemming) -> Expansions {
    let mut map: Expansions = HashMap::new();
    for group in GROUPS {
        let members: Vec<Vec<String>> = group.iter().map(|m| terms(m, stemming)).collect();
        for (i, trigger) in members.iter().enumerate() {
            let [word] = trigger.as_slice() else {
                continue;
            };
            let entry = map.entry(word.clone()).or_default();
            for (j, other) in members.iter().enumerate() {
                if i == j {
                    continue;
                }
                for t in other {
                    if t != word && !entry.contains(t) {
                        entry.push(t.clone());
                    }
                }
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_words_expand_to_phrases_and_back() {
        let map = expansions(Stemming::Light);
        let pr = &map["pr"];
        assert!(pr.contains(&"pull".to_owned()) && pr.contains(&"request".to_owned()));
        assert!(map["folder"].contains(&"directory".to_owned()));
        assert!(!map["folder"].contains(&"folder".to_owned()));
        // "pull request" is a phrase: it is a target, never a trigger.
        assert!(!map.contains_key("pull request"));
    }

    #[test]
    fn groups_have_no_duplicates_or_empty_members() {
        for group in GROUPS {
            assert!(group.len() >= 2, "{group:?}");
            for (i, m) in group.iter().enumerate() {
                assert!(!m.trim().is_empty());
                assert!(!group[i + 1..].contains(m), "{m} twice in {group:?}");
            }
        }
    }
}
