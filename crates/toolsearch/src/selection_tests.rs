use serde_json::json;

use super::*;

fn tool(name: &str, description: &str) -> ToolSpec {
    ToolSpec {
        name: name.into(),
        description: description.into(),
        input_schema: json!({"type": "object"}),
    }
}

fn catalog() -> Vec<ToolSpec> {
    vec![
        tool("files.read_file", "Read a file. Returns its text."),
        tool("files.write_file", "Write a file."),
        tool("slack.post_message", "Post a message to a Slack channel."),
        tool(
            "time.get_current_time",
            "Get the current time in a timezone.",
        ),
        tool(
            "github.create_issue",
            "Open a new issue in a GitHub repository.",
        ),
    ]
}

fn names(tools: &[ToolSpec]) -> Vec<&str> {
    tools.iter().map(|t| t.name.as_str()).collect()
}

#[test]
fn patterns_glob_with_stars() {
    let p = |s| ToolPattern::new(s);
    assert!(p("files.*").matches("files.read_file"));
    assert!(!p("files.*").matches("slack.post_message"));
    assert!(p("*.read_*").matches("files.read_file"));
    assert!(p("*").matches("anything"));
    assert!(p("time.get_current_time").matches("time.get_current_time"));
    assert!(!p("time.get_current_time").matches("time.get_current_time2"));
    assert!(p("a*b*c").matches("axxbyyc"));
    assert!(!p("a*b*c").matches("axxbyy"));
}

#[test]
fn select_offers_pinned_then_top_k_then_find_tools() {
    let sel = ToolSelection::new(
        &catalog(),
        vec![ToolPattern::new("time.*")],
        2,
        OfferFindTools::Yes,
    );
    let offered = sel.select("tell the slack channel the file was written");
    assert_eq!(offered[0].name, "time.get_current_time");
    assert_eq!(offered.len(), 4, "{:?}", names(&offered));
    assert!(names(&offered).contains(&"slack.post_message"));
    assert_eq!(offered[3].name, FIND_TOOLS);
}

#[test]
fn pinned_tools_are_not_counted_twice() {
    let sel = ToolSelection::new(
        &catalog(),
        vec![ToolPattern::new("slack.post_message")],
        1,
        OfferFindTools::No,
    );
    let offered = sel.select("post a slack message about the file");
    assert_eq!(offered[0].name, "slack.post_message");
    assert_eq!(offered.len(), 2);
    assert_ne!(offered[1].name, "slack.post_message");
}

#[test]
fn find_tools_answers_with_a_compact_listing() {
    let sel = ToolSelection::new(&catalog(), vec![], 3, OfferFindTools::Yes);
    let answer = sel
        .answer_find_tools(&json!({"query": "open a github issue", "k": 1}))
        .unwrap();
    assert_eq!(names(&answer.tools), ["github.create_issue"]);
    let listing: Value = serde_json::from_str(&answer.text).unwrap();
    assert_eq!(listing["tools"][0]["name"], "github.create_issue");
    assert_eq!(
        listing["tools"][0]["description"],
        "Open a new issue in a GitHub repository."
    );
    let first_sentence = sel
        .answer_find_tools(&json!({"query": "read file"}))
        .unwrap();
    let listing: Value = serde_json::from_str(&first_sentence.text).unwrap();
    assert_eq!(listing["tools"][0]["description"], "Read a file.");
}

#[test]
fn find_tools_rejects_bad_arguments_and_caps_k() {
    let sel = ToolSelection::new(&catalog(), vec![], 3, OfferFindTools::Yes);
    for bad in [
        json!("text"),
        json!({}),
        json!({"query": "  "}),
        json!({"query": "x", "k": 0}),
        json!({"query": "x", "k": "3"}),
    ] {
        let err = sel.answer_find_tools(&bad).unwrap_err();
        assert!(
            matches!(err, ToolSearchError::InvalidArguments { .. }),
            "{bad}"
        );
    }
    let all = sel
        .answer_find_tools(&json!({"query": "file message time issue", "k": 1000}))
        .unwrap();
    assert!(all.tools.len() <= MAX_FIND_K);
    let none = sel.answer_find_tools(&json!({"query": "zebra"})).unwrap();
    assert!(none.tools.is_empty());
    assert!(none.text.contains("no tool matches"));
}

#[test]
fn long_descriptions_are_cut_to_one_line() {
    let long = "word ".repeat(100);
    let s = summary(&long);
    assert!(s.chars().count() <= SUMMARY_CHARS);
    assert!(s.ends_with('…'));
    assert_eq!(summary("First line\nsecond line"), "First line");
    assert_eq!(summary(""), "");
}

#[test]
fn the_meta_tool_schema_requires_a_query() {
    let spec = find_tools_spec();
    assert_eq!(spec.name, FIND_TOOLS);
    assert_eq!(spec.input_schema["required"], json!(["query"]));
}
