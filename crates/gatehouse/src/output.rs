//! Output for people and scripts: format selection, a text table, escaping of
//! control characters, and writing the collected output once (so a closed pipe or a
//! full disk is an error to report, not a panic).

use std::io::Write as _;

use clap::ValueEnum;

/// `writeln!` into the command's output buffer (a `String`; writing to it cannot fail).
macro_rules! say {
    ($out:expr) => {{
        $out.push('\n');
    }};
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}
pub(crate) use say;

/// Longest message shown to people (file text echoed in errors can be huge).
pub const MAX_MESSAGE: usize = 600;

/// Longest table cell shown; longer ones are cut with `…` (JSON output is never cut).
const MAX_CELL: usize = 120;

/// Text with control characters escaped (`\x1b`), so file content cannot drive the
/// terminal; long text cut to `max` characters.
pub fn printable(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes the collected output to stdout. A closed pipe ends quietly (the reader
/// has gone, as with `| head`); other write errors are reported and give exit 2.
pub fn flush(out: &str, code: u8) -> u8 {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => code,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            eprintln!("gatehouse: cannot write output: {e}");
            2
        }
    }
}

/// `--format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Text for people.
    #[default]
    Text,
    /// JSON for scripts.
    Json,
}

/// Renders rows as an aligned text table with a header; cells are escaped and cut
/// to a readable width.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable(c, MAX_CELL)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut text = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(c);
            let pad = widths
                .get(i)
                .copied()
                .unwrap_or(0)
                .saturating_sub(c.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec(), &mut out);
    for row in &rows {
        line(row.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

/// "1 error", "3 errors".
pub fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// `{a,b}` like PostgreSQL prints a text array, or empty for none.
pub fn pg_array(v: &Option<Vec<String>>) -> String {
    match v {
        Some(items) => format!("{{{}}}", items.join(",")),
        None => String::new(),
    }
}
