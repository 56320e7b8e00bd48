//! pg_ident.conf: user name maps (PostgreSQL's `parse_ident_line()`,
//! `check_usermap()` and the `pg_ident_file_mappings` view).
//!
//! PostgreSQL 16+: the system-user column may be a `/regex` whose first capture
//! replaces `\1` in the database-user column; the database-user column may be
//! `all`, `+group` or a `/regex`. PostgreSQL 15: only the system-user regex and
//! `\1`; the database user is compared literally.

use serde::Serialize;

use crate::file::Diagnostic;
use crate::line::{compile_name_regex, NameToken};
use crate::matcher::check_role;
use crate::source::FileSource;
use crate::tokenize::{TokenizedLine, Tokenizer};
use crate::version::{ParseOptions, PgVersion};

/// One loaded map line.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentLine {
    /// File the line came from.
    pub file: String,
    /// Its line number.
    pub line: u32,
    /// MAPNAME.
    pub map: String,
    /// SYSTEM-USERNAME (literal or `/regex`).
    pub system_user: NameToken,
    /// PG-USERNAME (literal, `\1` template, or on 16+ `all`, `+group`, `/regex`).
    pub pg_user: NameToken,
}

/// One row of `pg_ident_file_mappings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdentRow {
    /// Position among rows without error; `None` on errors.
    pub map_number: Option<u32>,
    /// File.
    pub file_name: String,
    /// Line.
    pub line_number: u32,
    /// Map name.
    pub map_name: Option<String>,
    /// System user as written.
    pub sys_name: Option<String>,
    /// Database user as written.
    pub pg_username: Option<String>,
    /// Error text.
    pub error: Option<String>,
}

/// A parsed pg_ident.conf.
#[derive(Clone, Debug, Default)]
pub struct IdentFile {
    /// Rows as `pg_ident_file_mappings`.
    pub rows: Vec<IdentRow>,
    /// Loaded lines in order.
    pub lines: Vec<IdentLine>,
    /// Errors that make PostgreSQL refuse the file.
    pub errors: Vec<Diagnostic>,
    version: PgVersion,
}

/// The answer to "may system user S log in as database user U under map M".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdentDecision {
    /// Allowed by the line at `file:line`.
    Allowed {
        /// File of the deciding line.
        file: String,
        /// Line number.
        line: u32,
    },
    /// No line of the map allows it.
    NoMatch,
    /// Matching failed (e.g. `\1` without a capture group), as PostgreSQL logs it.
    Error(String),
}

impl IdentFile {
    /// Reads the file at `path` (absolute) and its includes.
    ///
    /// Errors: the top-level file cannot be read.
    pub fn load(
        path: &str,
        source: &dyn FileSource,
        opts: &ParseOptions,
    ) -> Result<IdentFile, crate::LoadError> {
        let lines = Tokenizer::new(source, opts.version)
            .tokenize_file(path)
            .map_err(crate::LoadError::Open)?;
        Ok(Self::from_tokenized(lines, opts.version))
    }

    /// Parses `content` as if it were the file at `path`.
    pub fn parse_bytes(
        path: &str,
        content: &[u8],
        source: &dyn FileSource,
        opts: &ParseOptions,
    ) -> IdentFile {
        let lines = Tokenizer::new(source, opts.version).tokenize_bytes(path, content);
        Self::from_tokenized(lines, opts.version)
    }

    fn from_tokenized(tokenized: Vec<TokenizedLine>, version: PgVersion) -> IdentFile {
        let mut f = IdentFile {
            version,
            ..IdentFile::default()
        };
        let mut n = 0u32;
        for tok in tokenized {
            let parsed = match &tok.error {
                Some(e) => Err((e.clone(), tok.error_column)),
                None => parse_ident_line(&tok, version),
            };
            match parsed {
                Ok(line) => {
                    n += 1;
                    f.rows.push(IdentRow {
                        map_number: Some(n),
                        file_name: tok.file.to_string(),
                        line_number: tok.line,
                        map_name: Some(line.map.clone()),
                        sys_name: Some(line.system_user.text.clone()),
                        pg_username: Some(line.pg_user.text.clone()),
                        error: None,
                    });
                    f.lines.push(line);
                }
                Err((msg, column)) => {
                    f.errors.push(Diagnostic {
                        file: tok.file.to_string(),
                        line: tok.line,
                        column,
                        message: msg.clone(),
                    });
                    f.rows.push(IdentRow {
                        map_number: None,
                        file_name: tok.file.to_string(),
                        line_number: tok.line,
                        map_name: None,
                        sys_name: None,
                        pg_username: None,
                        error: Some(msg),
                    });
                }
            }
        }
        f
    }

    /// Whether PostgreSQL would load this file.
    pub fn is_loadable(&self) -> bool {
        self.errors.is_empty()
    }

    /// PostgreSQL's `check_usermap()`: may `system_user` connect as `pg_user`
    /// under `map`? `is_member` answers `+group` checks (16+) for `pg_user`.
    /// `case_insensitive` is what GSSAPI/SSPI lines may ask for.
    pub fn check(
        &self,
        map: &str,
        pg_user: &str,
        system_user: &str,
        case_insensitive: bool,
        is_member: &dyn Fn(&str) -> bool,
    ) -> IdentDecision {
        for line in &self.lines {
            if line.map != map {
                continue;
            }
            match self.check_line(line, pg_user, system_user, case_insensitive, is_member) {
                Ok(true) => {
                    return IdentDecision::Allowed {
                        file: line.file.clone(),
                        line: line.line,
                    }
                }
                Ok(false) => {}
                Err(e) => return IdentDecision::Error(e),
            }
        }
        IdentDecision::NoMatch
    }

    fn check_line(
        &self,
        line: &IdentLine,
        pg_user: &str,
        system_user: &str,
        ci: bool,
        is_member: &dyn Fn(&str) -> bool,
    ) -> Result<bool, String> {
        let eq = |a: &str, b: &str| {
            if ci {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        let v16 = self.version.has_regex_and_includes();
        let target: NameToken = if let Some(re) = &line.system_user.regex {
            let Some(group) = re.first_group(system_user) else {
                return Ok(false);
            };
            let template = &line.pg_user;
            let special = v16 && (template.is_member_check() || template.regex.is_some());
            match template.text.find("\\1") {
                Some(pos) if !special => {
                    let Some(group) = group else {
                        return Err(format!(
                            "regular expression \"{}\" has no subexpressions as requested by backreference in \"{}\"",
                            &line.system_user.text[1..],
                            template.text
                        ));
                    };
                    let expanded = format!(
                        "{}{}{}",
                        &template.text[..pos],
                        group,
                        &template.text[pos + 2..]
                    );
                    NameToken {
                        text: expanded,
                        quoted: true,
                        regex: None,
                    }
                }
                _ => template.clone(),
            }
        } else {
            if !eq(&line.system_user.text, system_user) {
                return Ok(false);
            }
            line.pg_user.clone()
        };
        if !v16 {
            return Ok(eq(&target.text, pg_user));
        }
        if ci && !target.is_member_check() && !target.is_keyword("all") && target.regex.is_none() {
            return Ok(target.text.eq_ignore_ascii_case(pg_user));
        }
        Ok(check_role(
            pg_user,
            is_member,
            std::slice::from_ref(&target),
        ))
    }
}

fn parse_ident_line(
    tok: &TokenizedLine,
    version: PgVersion,
) -> Result<IdentLine, (String, Option<usize>)> {
    let mut fields = tok.fields.iter();
    let eol = Some(tok.raw.len() + 1);
    let mut take = || -> Result<NameToken, (String, Option<usize>)> {
        let f = fields
            .next()
            .ok_or_else(|| ("missing entry at end of line".to_owned(), eol))?;
        if f.len() > 1 {
            return Err((
                "multiple values in ident field".to_owned(),
                Some(f[1].column),
            ));
        }
        Ok(NameToken {
            text: f[0].text.clone(),
            quoted: f[0].quoted,
            regex: None,
        })
    };
    let map = take()?.text;
    let mut system_user = take()?;
    let mut pg_user = take()?;
    system_user.regex = compile_name_regex(&system_user.text).map_err(|e| (e, None))?;
    if version.has_regex_and_includes() {
        pg_user.regex = compile_name_regex(&pg_user.text).map_err(|e| (e, None))?;
    }
    Ok(IdentLine {
        file: tok.file.to_string(),
        line: tok.line,
        map,
        system_user,
        pg_user,
    })
}
