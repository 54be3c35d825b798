//! Member paths as AWS prints them (`records.1.member.data`, `shardFilter.type`), built
//! on the stack and only rendered when an error is reported.

use std::fmt;

/// A position in the request, innermost last.
pub enum Path<'a> {
    Root,
    /// A structure member, by its lower-camel name (also `member` for list/map items).
    Member(&'a Path<'a>, &'a str),
    /// A list element, 1-based.
    Index(&'a Path<'a>, usize),
    /// A map entry, by key.
    Key(&'a Path<'a>, &'a str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (parent, seg): (&Path, &dyn fmt::Display) = match self {
            Path::Root => return Ok(()),
            Path::Member(p, name) => (p, name),
            Path::Index(p, i) => (p, i),
            Path::Key(p, k) => (p, k),
        };
        if matches!(parent, Path::Root) {
            write!(f, "{seg}")
        } else {
            write!(f, "{parent}.{seg}")
        }
    }
}
