//! How the client commands print: aligned tables for people, one JSON document for
//! scripts, and a progress line on stderr while a command waits on the server.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use serde_json::Value;

/// Columns padded to their widest cell; the last column is not padded.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            out.push_str(cell);
            if i < last {
                let pad = w - cell.chars().count() + 2;
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// Writes `text` and a newline to stdout. A closed pipe (`| head`) ends the command
/// quietly, as it does for other Unix tools, instead of a panic.
pub fn line(text: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Prints a JSON document on stdout.
pub fn json(v: &Value) {
    line(&serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()));
}

/// A string field of a JSON answer, or "" (tables show what the server sent).
pub fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// A waiting line on stderr: redrawn in place on a terminal, one line otherwise.
pub struct Progress {
    what: String,
    started: Instant,
    tty: bool,
    shown: bool,
}

impl Progress {
    pub fn new(what: String) -> Progress {
        Progress {
            what,
            started: Instant::now(),
            tty: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    /// Called on every poll with the state the server reports.
    pub fn tick(&mut self, state: &str) {
        const SPINNER: [char; 4] = ['|', '/', '-', '\\'];
        let secs = self.started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        if self.tty {
            let frame = SPINNER[(secs * 8.0) as usize % SPINNER.len()];
            let _ = write!(err, "\r{frame} {} ({state}, {secs:.1}s)   ", self.what);
        } else if !self.shown {
            let _ = writeln!(err, "{} ({state}) ...", self.what);
        }
        let _ = err.flush();
        self.shown = true;
    }

    /// Ends the line once the wait is over.
    pub fn done(self, state: &str) {
        if !self.shown {
            return;
        }
        let secs = self.started.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r");
        }
        let _ = writeln!(err, "{}: {state} after {secs:.1}s", self.what);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["NAME", "SHARDS"],
            &[
                vec!["orders".into(), "4".into()],
                vec!["c".into(), "12".into()],
            ],
        );
        assert_eq!(t, "NAME    SHARDS\norders  4\nc       12\n");
    }
}
