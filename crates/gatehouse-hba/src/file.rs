//! A whole pg_hba.conf: loading (PostgreSQL's `load_hba()`) and the rows of the
//! `pg_hba_file_rules` view (`fill_hba_view()`).

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::line::{parse_hba_line, HbaLine};
use crate::matcher::RuleIndex;
use crate::resolve::Resolver;
use crate::source::FileSource;
use crate::tokenize::{TokenizedLine, Tokenizer};
use crate::version::ParseOptions;

/// One row of `pg_hba_file_rules` (PostgreSQL 16+ columns; 15 has no
/// `rule_number` and `file_name`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileRule {
    /// Position among the rows without error, from 1; `None` on error rows.
    pub rule_number: Option<u32>,
    /// File the record came from.
    pub file_name: String,
    /// First physical line of the record.
    pub line_number: u32,
    /// Connection type; `None` when the record did not parse.
    #[serde(rename = "type")]
    pub rule_type: Option<String>,
    /// Database names as written (quotes removed).
    pub database: Option<Vec<String>>,
    /// Role names as written.
    pub user_name: Option<Vec<String>>,
    /// Address, host name or keyword.
    pub address: Option<String>,
    /// Netmask for numeric addresses.
    pub netmask: Option<String>,
    /// Method name.
    pub auth_method: Option<String>,
    /// Options as `name=value` strings.
    pub options: Option<Vec<String>>,
    /// PostgreSQL's error text for the record.
    pub error: Option<String>,
}

/// A problem found while loading, located at file:line:column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// The file.
    pub file: String,
    /// Line number (0 for a problem with the file as a whole).
    pub line: u32,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What is wrong, in PostgreSQL's words.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: message (hint)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (0, _) => write!(f, "{}: {}", self.file, self.message)?,
            (l, Some(c)) => write!(f, "{}:{}:{}: {}", self.file, l, c, self.message)?,
            (l, None) => write!(f, "{}:{}: {}", self.file, l, self.message)?,
        }
        if let Some(h) = crate::hint::hint_for(&self.message) {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// One record of the file, in order: a loaded line, or a refused one.
#[derive(Debug)]
enum Entry {
    /// Index into [`HbaFile::lines`].
    Loaded(usize),
    /// A record PostgreSQL refuses; `view` is the view's error text (may be empty).
    Refused {
        file: Arc<str>,
        line: u32,
        view: Option<String>,
    },
}

/// A parsed pg_hba.conf with everything it includes.
#[derive(Debug)]
pub struct HbaFile {
    /// Path of the top-level file.
    pub path: String,
    /// The records that loaded, in file order (what PostgreSQL would match against
    /// if [`HbaFile::is_loadable`]).
    pub lines: Vec<HbaLine>,
    /// Errors that make PostgreSQL refuse the whole file.
    pub errors: Vec<Diagnostic>,
    /// Warnings: records that load but can never match, as PostgreSQL reports them.
    pub warnings: Vec<Diagnostic>,
    entries: Vec<Entry>,
    pub(crate) index: RuleIndex,
}

impl HbaFile {
    /// Reads and parses the file at `path` (absolute) and its includes.
    ///
    /// Errors: the top-level file cannot be read (`could not open file "…": …`).
    pub fn load(
        path: &str,
        source: &dyn FileSource,
        opts: &ParseOptions,
        resolver: &dyn Resolver,
    ) -> Result<HbaFile, crate::LoadError> {
        let mut b = Builder::default();
        Tokenizer::new(source, opts.version)
            .stream_file(path, &mut |tok| b.add(tok, opts, resolver))
            .map_err(crate::LoadError::Open)?;
        Ok(b.finish(path))
    }

    /// Parses `content` as if it were the file at `path`; includes and `@file`
    /// references are read from `source`.
    pub fn parse_bytes(
        path: &str,
        content: &[u8],
        source: &dyn FileSource,
        opts: &ParseOptions,
        resolver: &dyn Resolver,
    ) -> HbaFile {
        let mut b = Builder::default();
        Tokenizer::new(source, opts.version)
            .stream_bytes(path, content, &mut |tok| b.add(tok, opts, resolver));
        b.finish(path)
    }

    /// Whether PostgreSQL would load this file (no errors; at least one record).
    pub fn is_loadable(&self) -> bool {
        self.errors.is_empty()
    }

    /// One row per record, as the `pg_hba_file_rules` view shows them (built on
    /// demand; `rule_number` counts rows without an error, as PostgreSQL does).
    pub fn rows(&self) -> Vec<FileRule> {
        let mut rule_number = 0u32;
        self.entries
            .iter()
            .map(|entry| match entry {
                Entry::Loaded(i) => {
                    let line = &self.lines[*i];
                    let mut row = line_row(line);
                    match &line.warning {
                        Some(w) => row.error = Some(w.clone()),
                        None => {
                            rule_number += 1;
                            row.rule_number = Some(rule_number);
                        }
                    }
                    row
                }
                Entry::Refused { file, line, view } => {
                    let mut row = error_row(file.to_string(), *line, view.clone());
                    if view.is_none() {
                        // PostgreSQL refuses the file but leaves the view's error empty.
                        rule_number += 1;
                        row.rule_number = Some(rule_number);
                    }
                    row
                }
            })
            .collect()
    }
}

/// Collects records as the tokenizer hands them over (PostgreSQL's `load_hba()`
/// loop: every record is parsed, errors are collected, nothing is loaded on error).
#[derive(Default)]
struct Builder {
    entries: Vec<Entry>,
    lines: Vec<HbaLine>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
}

impl Builder {
    fn add(&mut self, tok: TokenizedLine, opts: &ParseOptions, resolver: &dyn Resolver) {
        if let Some(err) = &tok.error {
            self.errors.push(Diagnostic {
                file: tok.file.to_string(),
                line: tok.line,
                column: tok.error_column,
                message: err.clone(),
            });
            self.entries.push(Entry::Refused {
                file: Arc::clone(&tok.file),
                line: tok.line,
                view: Some(err.clone()),
            });
            return;
        }
        let (file, line_no) = (Arc::clone(&tok.file), tok.line);
        match parse_hba_line(tok, opts, resolver) {
            Ok(line) => {
                if let Some(w) = &line.warning {
                    self.warnings.push(Diagnostic {
                        file: file.to_string(),
                        line: line_no,
                        column: Some(1),
                        message: w.clone(),
                    });
                }
                self.entries.push(Entry::Loaded(self.lines.len()));
                self.lines.push(line);
            }
            Err(e) => {
                self.errors.push(Diagnostic {
                    file: file.to_string(),
                    line: line_no,
                    column: e.column,
                    message: e.log,
                });
                self.entries.push(Entry::Refused {
                    file,
                    line: line_no,
                    view: e.view,
                });
            }
        }
    }

    fn finish(mut self, path: &str) -> HbaFile {
        if self.errors.is_empty() && self.lines.is_empty() {
            self.errors.push(Diagnostic {
                file: path.to_owned(),
                line: 0,
                column: None,
                message: format!("configuration file \"{path}\" contains no entries"),
            });
        }
        let index = RuleIndex::build(&self.lines);
        HbaFile {
            path: path.to_owned(),
            lines: self.lines,
            errors: self.errors,
            warnings: self.warnings,
            entries: self.entries,
            index,
        }
    }
}

fn error_row(file_name: String, line_number: u32, error: Option<String>) -> FileRule {
    FileRule {
        rule_number: None,
        file_name,
        line_number,
        rule_type: None,
        database: None,
        user_name: None,
        address: None,
        netmask: None,
        auth_method: None,
        options: None,
        error,
    }
}

fn line_row(line: &HbaLine) -> FileRule {
    let (address, netmask) = line.view_address();
    FileRule {
        rule_number: None,
        file_name: line.file.to_string(),
        line_number: line.line,
        rule_type: Some(line.conntype.name().to_owned()),
        database: Some(line.databases.iter().map(|t| t.text.clone()).collect()),
        user_name: Some(line.roles.iter().map(|t| t.text.clone()).collect()),
        address,
        netmask,
        auth_method: Some(line.method.name().to_owned()),
        options: line.view_options(),
        error: None,
    }
}
