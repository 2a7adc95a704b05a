//! LIKE / ILIKE pattern matching, compiled once per pattern.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Elem {
    Char(char),
    /// `_`: exactly one character.
    One,
    /// `%`: any sequence, the empty one included.
    Many,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Plan {
    /// No wildcard: equality.
    Exact(String),
    /// `abc%`
    Prefix(String),
    /// `%abc`
    Suffix(String),
    /// `%abc%`
    Contains(String),
    /// `%` alone (or `%%`...): anything.
    Any,
    /// Anything else: a backtracking matcher over the elements.
    General(Vec<Elem>),
}

/// A compiled LIKE pattern: `%` matches any sequence of characters, `_` exactly one,
/// the escape character (if any) makes the next character literal. Common shapes
/// (`abc`, `abc%`, `%abc`, `%abc%`) are plain string operations; the rest use a
/// linear-space backtracking matcher. Matching never allocates, except that a
/// case-insensitive (ILIKE) match lowercases its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikeMatcher {
    plan: Plan,
    case_insensitive: bool,
}

impl LikeMatcher {
    /// Compiles `pattern`. An escape character at the very end of the pattern is an
    /// error (as in PostgreSQL).
    pub fn new(pattern: &str, escape: Option<char>, case_insensitive: bool) -> Result<LikeMatcher> {
        let lowered;
        let pattern = if case_insensitive {
            lowered = pattern.to_lowercase();
            lowered.as_str()
        } else {
            pattern
        };
        let mut elems = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            if Some(c) == escape {
                match chars.next() {
                    Some(n) => elems.push(Elem::Char(n)),
                    None => {
                        return Err(Error::invalid(
                            "LIKE",
                            "pattern ends with the escape character",
                        ))
                    }
                }
            } else if c == '%' {
                if elems.last() != Some(&Elem::Many) {
                    elems.push(Elem::Many);
                }
            } else if c == '_' {
                elems.push(Elem::One);
            } else {
                elems.push(Elem::Char(c));
            }
        }
        Ok(LikeMatcher {
            plan: plan(elems),
            case_insensitive,
        })
    }

    /// Whether `s` matches the whole pattern.
    pub fn matches(&self, s: &str) -> bool {
        if self.case_insensitive {
            let lower = s.to_lowercase();
            self.matches_exact_case(&lower)
        } else {
            self.matches_exact_case(s)
        }
    }

    fn matches_exact_case(&self, s: &str) -> bool {
        match &self.plan {
            Plan::Exact(p) => s == p,
            Plan::Prefix(p) => s.starts_with(p.as_str()),
            Plan::Suffix(p) => s.ends_with(p.as_str()),
            Plan::Contains(p) => s.contains(p.as_str()),
            Plan::Any => true,
            Plan::General(elems) => general_match(elems, s),
        }
    }
}

fn plan(elems: Vec<Elem>) -> Plan {
    let literal = |e: &[Elem]| -> Option<String> {
        e.iter()
            .map(|x| match x {
                Elem::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    };
    let n = elems.len();
    let starts = elems.first() == Some(&Elem::Many);
    let ends = n > 0 && elems.last() == Some(&Elem::Many);
    if starts && n == 1 {
        return Plan::Any;
    }
    let (lo, hi) = (starts as usize, n - ends as usize);
    if lo <= hi {
        if let Some(lit) = literal(&elems[lo..hi]) {
            return match (starts, ends) {
                (false, false) => Plan::Exact(lit),
                (false, true) => Plan::Prefix(lit),
                (true, false) => Plan::Suffix(lit),
                (true, true) => Plan::Contains(lit),
            };
        }
    }
    Plan::General(elems)
}

/// Wildcard matching with single-star backtracking: O(len(s) * len(pattern)) in the
/// worst case, no allocation.
fn general_match(p: &[Elem], s: &str) -> bool {
    let (mut pi, mut si) = (0usize, 0usize);
    // (pattern index after the last `%`, input offset that `%` currently extends to)
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            let next = s[si..].chars().next();
            match (&p[pi], next) {
                (Elem::Many, _) => {
                    star = Some((pi + 1, si));
                    pi += 1;
                    continue;
                }
                (Elem::One, Some(c)) => {
                    pi += 1;
                    si += c.len_utf8();
                    continue;
                }
                (Elem::Char(pc), Some(c)) if *pc == c => {
                    pi += 1;
                    si += c.len_utf8();
                    continue;
                }
                _ => {}
            }
        } else if si == s.len() {
            return true;
        }
        // Mismatch: let the last `%` swallow one more character.
        match star {
            Some((sp, ss)) => match s[ss..].chars().next() {
                Some(c) => {
                    let ns = ss + c.len_utf8();
                    star = Some((sp, ns));
                    pi = sp;
                    si = ns;
                }
                None => return false,
            },
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(s: &str, p: &str) -> bool {
        LikeMatcher::new(p, None, false).unwrap().matches(s)
    }

    #[test]
    fn wildcards() {
        assert!(like("hello", "hello"));
        assert!(!like("hello", "hell"));
        assert!(like("hello", "he%"));
        assert!(like("hello", "%llo"));
        assert!(like("hello", "%ll%"));
        assert!(like("hello", "%"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("hello", "h_llo"));
        assert!(like("hello", "h%o"));
        assert!(like("hello", "%l_o"));
        assert!(!like("hello", "%x%"));
        assert!(like("abcabc", "%abc"));
        assert!(like("aaa", "a%a%a"));
        assert!(!like("aa", "a%a%a"));
        assert!(like("mississippi", "m%iss%pi"));
        assert!(like("héllo", "h_llo"));
        assert!(like("日本語", "_本_"));
        assert!(like("abc", "a%%c"));
        assert!(!like("abcd", "a_c"));
        assert!(like("a%b", "a%b"));
    }

    #[test]
    fn escapes_and_case() {
        let m = LikeMatcher::new("100!%", Some('!'), false).unwrap();
        assert!(m.matches("100%"));
        assert!(!m.matches("1000"));
        let m = LikeMatcher::new("a!_b%", Some('!'), false).unwrap();
        assert!(m.matches("a_bcd"));
        assert!(!m.matches("axbcd"));
        assert!(LikeMatcher::new("abc!", Some('!'), false).is_err());
        let m = LikeMatcher::new("HeL%", None, true).unwrap();
        assert!(m.matches("hello"));
        assert!(m.matches("HELLO"));
        assert!(!m.matches("hexp"));
    }

    #[test]
    fn plans_pick_fast_paths() {
        let p = |s: &str| LikeMatcher::new(s, None, false).unwrap().plan;
        assert_eq!(p("ab"), Plan::Exact("ab".into()));
        assert_eq!(p("ab%"), Plan::Prefix("ab".into()));
        assert_eq!(p("%ab"), Plan::Suffix("ab".into()));
        assert_eq!(p("%ab%"), Plan::Contains("ab".into()));
        assert_eq!(p("%%"), Plan::Any);
        assert!(matches!(p("a_b"), Plan::General(_)));
    }
}
