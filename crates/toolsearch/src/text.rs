//! Text → index terms: identifier-aware splitting, lowercasing, stop words
//! and an optional light stemmer.

/// How terms are reduced before indexing and querying.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Stemming {
    /// Terms are indexed as split and lowercased.
    None,
    /// A light suffix stripper (plurals, `-ing`, `-ed`, `-ies`): cheap, and
    /// enough to match `files` with `file` or `listing` with `list`.
    #[default]
    Light,
}

/// Words too common in tool descriptions and sub-tasks to carry meaning.
const STOP_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "and",
    "or",
    "of",
    "to",
    "in",
    "on",
    "for",
    "with",
    "by",
    "at",
    "from",
    "as",
    "is",
    "are",
    "be",
    "it",
    "its",
    "this",
    "that",
    "these",
    "those",
    "into",
    "via",
    "can",
    "will",
    "should",
    "must",
    "may",
    "all",
    "any",
    "some",
    "if",
    "then",
    "than",
    "when",
    "which",
    "what",
    "who",
    "whose",
    "their",
    "there",
    "we",
    "our",
    "us",
    "i",
    "me",
    "my",
    "you",
    "your",
    "do",
    "does",
    "so",
    "not",
    "no",
    "but",
    "also",
    "only",
    "just",
    "up",
    "out",
    "about",
    "has",
    "have",
    "had",
    "was",
    "were",
    "been",
    "being",
    "etc",
    "e",
    "g",
    "s",
    "need",
    "needs",
    "please",
    "want",
    "would",
    "could",
    "let",
    "get",
    "returns",
    "return",
    "given",
    "using",
    "use",
    "used",
    // The rest of NLTK's English list.
    "am",
    "he",
    "she",
    "him",
    "her",
    "his",
    "hers",
    "they",
    "them",
    "theirs",
    "itself",
    "myself",
    "yourself",
    "ourselves",
    "themselves",
    "did",
    "doing",
    "because",
    "until",
    "while",
    "between",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "off",
    "down",
    "again",
    "further",
    "here",
    "where",
    "why",
    "how",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "such",
    "nor",
    "own",
    "same",
    "too",
    "very",
    "t",
    "don",
    "m",
    "ll",
    "re",
    "ve",
    "d",
    "o",
    "y",
    "whom",
    "once",
    "over",
    "under",
    "against",
    "many",
    "much",
];

/// Splits `text` into raw lowercase words: at every non-alphanumeric
/// character (spaces, `_`, `.`, `-`, `/`), at lower→upper case changes
/// (`camelCase`), at the end of an acronym (`HTTPServer` → `http`, `server`)
/// and between letters and digits.
pub fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            flush(&mut current, &mut words);
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|p| chars.get(p)) {
            let next = chars.get(i + 1).copied();
            let camel = prev.is_lowercase() && c.is_uppercase();
            let acronym_end =
                prev.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase);
            let digit_edge = prev.is_ascii_digit() != c.is_ascii_digit() && prev.is_alphanumeric();
            if camel || acronym_end || digit_edge {
                flush(&mut current, &mut words);
            }
        }
        current.extend(c.to_lowercase());
    }
    flush(&mut current, &mut words);
    words
}

fn flush(current: &mut String, words: &mut Vec<String>) {
    if !current.is_empty() {
        words.push(std::mem::take(current));
    }
}

/// Index terms for `text`: split words without stop words, stemmed.
pub fn terms(text: &str, stemming: Stemming) -> Vec<String> {
    split_words(text)
        .into_iter()
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .map(|w| stem(&w, stemming))
        .collect()
}

/// Reduces one lowercase word.
pub fn stem(word: &str, stemming: Stemming) -> String {
    match stemming {
        Stemming::None => word.to_owned(),
        Stemming::Light => light_stem(word),
    }
}

fn light_stem(word: &str) -> String {
    if word.len() <= 3 || !word.is_ascii() {
        return word.to_owned();
    }
    // Plurals first, then verb endings, so "meetings" and "meeting" meet.
    let plural = strip(
        word,
        &[
            ("ies", "y"),
            ("sses", "ss"),
            ("ches", "ch"),
            ("shes", "sh"),
            ("xes", "x"),
            ("s", ""),
        ],
    );
    let base = plural.as_deref().unwrap_or(word);
    let verb = strip(base, &[("ing", ""), ("ied", "y"), ("ed", "")]);
    drop_final_e(verb.unwrap_or_else(|| base.to_owned()))
}

/// Applies the first rule whose suffix `word` has, if the root stays at
/// least three letters long.
fn strip(word: &str, rules: &[(&str, &str)]) -> Option<String> {
    for (suffix, replacement) in rules {
        let Some(root) = word.strip_suffix(suffix) else {
            continue;
        };
        if *suffix == "s" && (root.ends_with('s') || root.ends_with('u') || root.ends_with('i')) {
            return None;
        }
        if root.len() < 3 {
            return None;
        }
        let mut out = format!("{root}{replacement}");
        // "running" → "runn" → "run"; "stopped" → "stopp" → "stop".
        let bytes = out.as_bytes();
        let n = bytes.len();
        if replacement.is_empty()
            && *suffix != "s"
            && n >= 4
            && bytes[n - 1] == bytes[n - 2]
            && !matches!(bytes[n - 1], b'l' | b's' | b'z')
        {
            out.pop();
        }
        return Some(out);
    }
    None
}

/// "create", "created", "creating" all end as "creat".
fn drop_final_e(mut word: String) -> String {
    if word.len() >= 4 && word.ends_with('e') && !word.ends_with("ee") {
        word.pop();
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_at_case_digits_and_punctuation() {
        assert_eq!(
            split_words("github.create_pull-request"),
            ["github", "create", "pull", "request"]
        );
        assert_eq!(
            split_words("listDirectoryWithSizes"),
            ["list", "directory", "with", "sizes"]
        );
        assert_eq!(
            split_words("HTTPServer s3Bucket"),
            ["http", "server", "s", "3", "bucket"]
        );
        assert_eq!(split_words("ISO-8601 UTC"), ["iso", "8601", "utc"]);
        assert!(split_words("  ...__ ").is_empty());
    }

    #[test]
    fn light_stemming_merges_common_inflections() {
        let s = |w| stem(w, Stemming::Light);
        assert_eq!(s("files"), s("file"));
        assert_eq!(s("directories"), "directory");
        assert_eq!(s("listing"), "list");
        assert_eq!(s("created"), "creat");
        assert_eq!(s("create"), "creat");
        assert_eq!(s("creating"), "creat");
        assert_eq!(s("issues"), s("issue"));
        assert_eq!(s("copied"), "copy");
        assert_eq!(s("meetings"), s("meeting"));
        assert_eq!(s("settings"), s("setting"));
        assert_eq!(s("running"), "run");
        assert_eq!(s("branches"), "branch");
        assert_eq!(s("status"), "status");
        assert_eq!(s("address"), "address");
        assert_eq!(s("pulled"), "pull");
        assert_eq!(stem("files", Stemming::None), "files");
    }

    #[test]
    fn stop_words_are_dropped() {
        assert_eq!(
            terms("Read the file from a path", Stemming::None),
            ["read", "file", "path"]
        );
    }
}
