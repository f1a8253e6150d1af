//! Segment shapes: the little language the oracle's tables are written in.
//!
//! A path `/a/b/` is the segment list `["a", "b", ""]` (the leading `/` is dropped, every
//! further `/` starts a new, possibly empty, segment). A [`Shape`] is a list of segment
//! matchers followed by a [`Tail`] that says what may come after them. The spec's regexes all
//! end a literal or a `[^/]+` at a `/` or at the end of the path, so whole-segment matching
//! expresses them exactly without any regex.

/// One segment matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg {
    /// Exactly this text (case-sensitive).
    Lit(&'static str),
    /// Any one of these texts.
    OneOf(&'static [&'static str]),
    /// Any non-empty segment (a regex `[^/]+`).
    Any,
}

/// What may follow the matched segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// Nothing: the path ends (`$`).
    End,
    /// Nothing or a single trailing slash (`/?$`).
    OptSlash,
    /// Anything, including nothing (`(?:$|/)`).
    Open,
    /// At least a `/`, then anything (`/` with no `$`).
    Deeper,
}

/// A path shape: segments, then a tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub segs: &'static [Seg],
    pub tail: Tail,
}

impl Shape {
    pub const fn new(segs: &'static [Seg], tail: Tail) -> Self {
        Shape { segs, tail }
    }

    /// Whether the segment list `path` has this shape.
    pub fn matches(&self, path: &[&str]) -> bool {
        if path.len() < self.segs.len() {
            return false;
        }
        let (head, rest) = path.split_at(self.segs.len());
        let head_ok = self.segs.iter().zip(head).all(|(m, s)| match m {
            Seg::Lit(l) => s == l,
            Seg::OneOf(ls) => ls.contains(s),
            Seg::Any => !s.is_empty(),
        });
        head_ok
            && match self.tail {
                Tail::End => rest.is_empty(),
                Tail::OptSlash => rest.is_empty() || rest == [""],
                Tail::Open => true,
                Tail::Deeper => !rest.is_empty(),
            }
    }
}

/// The segments of an absolute path; `None` when it does not start with `/`.
pub fn split(path: &str) -> Option<Vec<&str>> {
    path.strip_prefix('/').map(|p| p.split('/').collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(shape: Shape, path: &str) -> bool {
        shape.matches(&split(path).unwrap())
    }

    #[test]
    fn tails_mirror_the_regex_endings() {
        const TOOLS: &[Seg] = &[Seg::Lit("tools")];
        const TOOL: &[Seg] = &[Seg::Lit("tools"), Seg::Any];
        // ^/tools(?:$|/)
        let open = Shape::new(TOOLS, Tail::Open);
        assert!(m(open, "/tools") && m(open, "/tools/") && m(open, "/tools//x"));
        assert!(!m(open, "/toolsx") && !m(open, "/"));
        // ^/tools/?$
        let opt = Shape::new(TOOLS, Tail::OptSlash);
        assert!(m(opt, "/tools") && m(opt, "/tools/"));
        assert!(!m(opt, "/tools//") && !m(opt, "/tools/x"));
        // ^/tools/[^/]+/
        let deeper = Shape::new(TOOL, Tail::Deeper);
        assert!(m(deeper, "/tools/x/") && m(deeper, "/tools/x/y"));
        assert!(!m(deeper, "/tools/x") && !m(deeper, "/tools//y"));
        // ^/tools/[^/]+$
        let end = Shape::new(TOOL, Tail::End);
        assert!(m(end, "/tools/x"));
        assert!(!m(end, "/tools/x/") && !m(end, "/tools/"));
    }

    #[test]
    fn split_keeps_empty_segments() {
        assert_eq!(split("/"), Some(vec![""]));
        assert_eq!(split("//a/"), Some(vec!["", "a", ""]));
        assert_eq!(split("a"), None);
    }
}
