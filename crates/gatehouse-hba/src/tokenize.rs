//! Tokenizer shared by pg_hba.conf and pg_ident.conf.
//!
//! Mirrors PostgreSQL's `tokenize_auth_file()` / `next_field_expand()` /
//! `next_token()` (hba.c): backslash line continuation, unquoted `#` comments (even
//! mid-token), double quotes with `""` for a literal quote, comma lists (a blank
//! before a comma ends the field), `@file` lists relative to the including file,
//! and, from PostgreSQL 16, the `include`, `include_if_exists` and `include_dir`
//! records (nesting depth at most 10). PostgreSQL 15 stops tokens at 10,239 bytes
//! (`MAX_TOKEN` 10240, checked against 15.18); 16+ has no limit.
//! Input bytes that are not UTF-8 are carried through lossily and never panic.

use std::sync::Arc;

use crate::source::{absolute_config_location, canonicalize_path, strerror, EntryKind, FileSource};
use crate::version::PgVersion;

/// Deepest include / `@file` nesting PostgreSQL allows (`CONF_FILE_MAX_DEPTH`).
pub const MAX_INCLUDE_DEPTH: u32 = 10;

/// One token of a field, with its quoting and where it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The token with quotes removed (`""` inside quotes becomes `"`).
    pub text: String,
    /// True when the token began with a double quote: then keywords such as `all`
    /// and prefixes such as `+` and `/` lose their special meaning.
    pub quoted: bool,
    /// 1-based byte column of the token's first character in its logical line
    /// (for a token read from an `@file`, the column of the `@` token).
    pub column: usize,
}

/// One logical line (a record) of an authentication file, split into fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenizedLine {
    /// The file the record came from (an include or the top-level file); shared by
    /// every record of that file.
    pub file: Arc<str>,
    /// 1-based number of the record's first physical line.
    pub line: u32,
    /// The logical line as read (continuations joined, trailing newline removed).
    pub raw: String,
    /// Fields; each is a non-empty comma list of tokens.
    pub fields: Vec<Vec<Token>>,
    /// Tokenizer error (PostgreSQL's `err_msg`), if any.
    pub error: Option<String>,
    /// 1-based column of the token that caused `error`, when known.
    pub error_column: Option<usize>,
}

/// Reads an authentication file and everything it includes.
pub struct Tokenizer<'a> {
    source: &'a dyn FileSource,
    version: PgVersion,
}

struct RawToken {
    bytes: Vec<u8>,
    initial_quote: bool,
    terminating_comma: bool,
    column: usize,
}

enum Next {
    Token(RawToken),
    End,
    TooLong,
}

/// PostgreSQL 15's token buffer: `MAX_TOKEN` (10240) bytes including the terminator.
const PG15_MAX_TOKEN_BYTES: usize = 10_239;

impl<'a> Tokenizer<'a> {
    /// A tokenizer reading files from `source` with `version`'s rules.
    pub fn new(source: &'a dyn FileSource, version: PgVersion) -> Self {
        Tokenizer { source, version }
    }

    /// Tokenizes the top-level file at `path` and its includes, in order.
    ///
    /// Errors: the top-level file cannot be read — PostgreSQL's text
    /// `could not open file "…": <strerror>`. Errors inside the file (bad includes,
    /// over-long tokens) are reported on the affected [`TokenizedLine`].
    pub fn tokenize_file(&self, path: &str) -> Result<Vec<TokenizedLine>, String> {
        let mut out = Vec::new();
        self.stream_file(path, &mut |l| out.push(l))?;
        Ok(out)
    }

    /// As [`Tokenizer::tokenize_file`], handing each record to `sink` as soon as it
    /// is read (so a caller can parse a large file without holding every token).
    ///
    /// Errors: the top-level file cannot be read.
    pub fn stream_file(
        &self,
        path: &str,
        sink: &mut dyn FnMut(TokenizedLine),
    ) -> Result<(), String> {
        let content = self
            .source
            .read(path)
            .map_err(|e| format!("could not open file \"{path}\": {}", strerror(&e)))?;
        self.tokenize_content(path, &content, 0, sink);
        Ok(())
    }

    /// Tokenizes in-memory text as if it were the file `path` (includes and
    /// `@file` references are still read through the source).
    pub fn tokenize_bytes(&self, path: &str, content: &[u8]) -> Vec<TokenizedLine> {
        let mut out = Vec::new();
        self.stream_bytes(path, content, &mut |l| out.push(l));
        out
    }

    /// As [`Tokenizer::tokenize_bytes`], handing each record to `sink`.
    pub fn stream_bytes(&self, path: &str, content: &[u8], sink: &mut dyn FnMut(TokenizedLine)) {
        self.tokenize_content(path, content, 0, sink);
    }

    fn tokenize_content(
        &self,
        file: &str,
        content: &[u8],
        depth: u32,
        out: &mut dyn FnMut(TokenizedLine),
    ) {
        let mut line_number: u32 = 1;
        let shared: Arc<str> = Arc::from(file);
        for (logical, continuations) in logical_lines(content) {
            // C strings end at the first NUL.
            let text = match logical.iter().position(|&b| b == 0) {
                Some(nul) => &logical[..nul],
                None => &logical[..],
            };
            self.process_line(&shared, text, line_number, depth, out);
            line_number = line_number.saturating_add(continuations + 1);
        }
    }

    fn process_line(
        &self,
        file: &Arc<str>,
        text: &[u8],
        line: u32,
        depth: u32,
        out: &mut dyn FnMut(TokenizedLine),
    ) {
        let mut fields: Vec<Vec<Token>> = Vec::new();
        let mut error: Option<String> = None;
        let mut error_column = None;
        let mut pos = 0usize;
        while pos < text.len() && error.is_none() {
            let (field, err) = self.next_field(file, text, &mut pos, depth);
            if let Some((msg, col)) = err {
                error = Some(msg);
                error_column = Some(col);
            }
            if !field.is_empty() {
                fields.push(field);
            }
        }
        if fields.is_empty() && error.is_none() {
            return;
        }
        if error.is_none() && fields.len() == 2 && self.version.has_regex_and_includes() {
            let first = fields[0][0].text.clone();
            let second = fields[1][0].text.clone();
            let column = fields[1][0].column;
            let included = match first.as_str() {
                "include" => Some(self.include_file(file, &second, depth + 1, false, out)),
                "include_if_exists" => Some(self.include_file(file, &second, depth + 1, true, out)),
                "include_dir" => Some(self.include_dir(file, &second, depth + 1, out)),
                _ => None,
            };
            match included {
                Some(Ok(())) => return,
                Some(Err(msg)) => {
                    error = Some(msg);
                    error_column = Some(column);
                }
                None => {}
            }
        }
        out(TokenizedLine {
            file: Arc::clone(file),
            line,
            raw: String::from_utf8_lossy(text).into_owned(),
            fields,
            error,
            error_column,
        });
    }

    fn include_file(
        &self,
        calling: &str,
        location: &str,
        depth: u32,
        missing_ok: bool,
        out: &mut dyn FnMut(TokenizedLine),
    ) -> Result<(), String> {
        let full = absolute_config_location(location, calling);
        if depth > MAX_INCLUDE_DEPTH {
            return Err(format!(
                "could not open file \"{full}\": maximum nesting depth exceeded"
            ));
        }
        match self.source.read(&full) {
            Ok(content) => {
                self.tokenize_content(&full, &content, depth, out);
                Ok(())
            }
            // fopen() succeeds on a directory and reading fails: PostgreSQL logs
            // "could not read file" and the include adds nothing.
            Err(e) if is_directory(&e) => Ok(()),
            Err(e) if missing_ok && e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("could not open file \"{full}\": {}", strerror(&e))),
        }
    }

    fn include_dir(
        &self,
        calling: &str,
        location: &str,
        depth: u32,
        out: &mut dyn FnMut(TokenizedLine),
    ) -> Result<(), String> {
        let directory = absolute_config_location(location, calling);
        let entries = self
            .source
            .list_dir(&directory)
            .map_err(|_| format!("could not open directory \"{directory}\""))?;
        let mut files: Vec<String> = Vec::new();
        for e in entries {
            let n = &e.name;
            if n.len() < 6 || n.starts_with('.') || !n.ends_with(".conf") {
                continue;
            }
            let full = canonicalize_path(&format!("{directory}/{n}"));
            match e.kind {
                EntryKind::Dir => {}
                EntryKind::File => files.push(full),
                // PostgreSQL then includes none of the directory's files.
                EntryKind::Unknown => return Err(format!("could not stat file \"{full}\"")),
            }
        }
        files.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let mut errors: Vec<String> = Vec::new();
        for f in files {
            if let Err(e) = self.include_file(calling, &f, depth, false, out) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }

    /// One field: a comma list of tokens, expanding `@file` references.
    fn next_field(
        &self,
        file: &str,
        text: &[u8],
        pos: &mut usize,
        depth: u32,
    ) -> (Vec<Token>, Option<(String, usize)>) {
        let mut tokens = Vec::new();
        loop {
            let tok = match self.next_token(text, pos) {
                Next::End => break,
                Next::TooLong => {
                    return (
                        tokens,
                        Some(("authentication file token too long".to_owned(), *pos)),
                    )
                }
                Next::Token(t) => t,
            };
            if !tok.initial_quote && tok.bytes.len() > 1 && tok.bytes[0] == b'@' {
                let name = String::from_utf8_lossy(&tok.bytes[1..]).into_owned();
                if let Err(msg) = self.expand_file(file, &name, depth + 1, tok.column, &mut tokens)
                {
                    return (tokens, Some((msg, tok.column)));
                }
            } else {
                tokens.push(Token {
                    text: String::from_utf8_lossy(&tok.bytes).into_owned(),
                    quoted: tok.initial_quote,
                    column: tok.column,
                });
            }
            if !tok.terminating_comma {
                break;
            }
        }
        (tokens, None)
    }

    /// `@file`: every token of every line of the file, appended to `tokens`.
    fn expand_file(
        &self,
        calling: &str,
        name: &str,
        depth: u32,
        column: usize,
        tokens: &mut Vec<Token>,
    ) -> Result<(), String> {
        let full = absolute_config_location(name, calling);
        if depth > MAX_INCLUDE_DEPTH {
            return Err(format!(
                "could not open file \"{full}\": maximum nesting depth exceeded"
            ));
        }
        let content = match self.source.read(&full) {
            Ok(c) => c,
            // A directory reads as nothing (PostgreSQL logs "could not read file").
            Err(e) if is_directory(&e) => Vec::new(),
            Err(e) if self.version.has_regex_and_includes() => {
                return Err(format!("could not open file \"{full}\": {}", strerror(&e)))
            }
            Err(e) => {
                return Err(format!(
                    "could not open secondary authentication file \"@{name}\" as \"{full}\": {}",
                    strerror(&e)
                ))
            }
        };
        let mut lines = Vec::new();
        self.tokenize_content(&full, &content, depth, &mut |l| lines.push(l));
        for line in lines {
            if let Some(err) = line.error {
                return Err(err);
            }
            for field in line.fields {
                for mut tok in field {
                    tok.column = column;
                    tokens.push(tok);
                }
            }
        }
        Ok(())
    }

    /// PostgreSQL's `next_token()` over the bytes of one logical line.
    fn next_token(&self, text: &[u8], pos: &mut usize) -> Next {
        let get = |p: &mut usize| -> u8 {
            let c = text.get(*p).copied().unwrap_or(0);
            *p += 1;
            c
        };
        let mut c = get(pos);
        while c != 0 && (is_blank(c) || c == b',') {
            c = get(pos);
        }
        let column = *pos; // 1-based column of `c`
        let mut buf: Vec<u8> = Vec::new();
        let mut in_quote = false;
        let mut was_quote = false;
        let mut saw_quote = false;
        let mut initial_quote = false;
        let mut terminating_comma = false;
        let limit = self.version == PgVersion::V15;
        while c != 0 && (!is_blank(c) || in_quote) {
            if c == b'#' && !in_quote {
                *pos = text.len() + 1;
                break;
            }
            if limit && buf.len() >= PG15_MAX_TOKEN_BYTES {
                *pos = text.len();
                return Next::TooLong;
            }
            if c == b',' && !in_quote {
                terminating_comma = true;
                break;
            }
            if c != b'"' || was_quote {
                buf.push(c);
            }
            if in_quote && c == b'"' {
                was_quote = !was_quote;
            } else {
                was_quote = false;
            }
            if c == b'"' {
                in_quote = !in_quote;
                saw_quote = true;
                if buf.is_empty() {
                    initial_quote = true;
                }
            }
            c = get(pos);
        }
        *pos -= 1; // un-eat the character after the token
        if saw_quote || !buf.is_empty() {
            Next::Token(RawToken {
                bytes: buf,
                initial_quote,
                terminating_comma,
                column,
            })
        } else {
            Next::End
        }
    }
}

fn is_directory(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(21)
}

/// PostgreSQL's `pg_isblank()`: space, tab and carriage return.
fn is_blank(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\r'
}

/// Splits content into logical lines, joining backslash continuations; yields each
/// line with the number of continuations it absorbed.
fn logical_lines(content: &[u8]) -> Vec<(Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut rest = content;
    while !rest.is_empty() {
        let mut buf: Vec<u8> = Vec::new();
        let mut last_backslash_len = 0usize;
        let mut continuations = 0u32;
        loop {
            if rest.is_empty() {
                break;
            }
            let (piece, tail) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..=i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = tail;
            buf.extend_from_slice(piece);
            while matches!(buf.last(), Some(b'\n') | Some(b'\r')) {
                buf.pop();
            }
            if buf.len() > last_backslash_len && buf.last() == Some(&b'\\') {
                buf.pop();
                last_backslash_len = buf.len();
                continuations += 1;
                continue;
            }
            break;
        }
        out.push((buf, continuations));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemFiles;

    fn fields(text: &str) -> Vec<Vec<(String, bool)>> {
        let files = MemFiles::new();
        let t = Tokenizer::new(&files, PgVersion::V18);
        let lines = t.tokenize_bytes("/c/pg_hba.conf", text.as_bytes());
        assert_eq!(lines.len(), 1, "{lines:?}");
        lines[0]
            .fields
            .iter()
            .map(|f| f.iter().map(|t| (t.text.clone(), t.quoted)).collect())
            .collect()
    }

    #[test]
    fn comments_quotes_and_commas() {
        let f = fields("host a,\"b c\",d#x e");
        assert_eq!(f[0], vec![("host".to_owned(), false)]);
        assert_eq!(
            f[1],
            vec![
                ("a".to_owned(), false),
                ("b c".to_owned(), true),
                ("d".to_owned(), false)
            ]
        );
        assert_eq!(f.len(), 2);
        let f = fields("x \"a\"\"b\" c ,d");
        assert_eq!(f[1], vec![("a\"b".to_owned(), true)]);
        assert_eq!(f[2], vec![("c".to_owned(), false)]);
        assert_eq!(f[3], vec![("d".to_owned(), false)]);
    }

    #[test]
    fn continuation_keeps_first_line_number() {
        let files = MemFiles::new();
        let t = Tokenizer::new(&files, PgVersion::V18);
        let lines = t.tokenize_bytes(
            "/c/h",
            b"\nhost all \\\n all \\\r\n 1.2.3.4/32 md5\nlocal all all trust\n",
        );
        assert_eq!(lines[0].line, 2);
        assert_eq!(lines[0].fields.len(), 5);
        assert_eq!(lines[1].line, 5);
    }

    #[test]
    fn pg15_token_limit_is_10239_bytes() {
        let files = MemFiles::new();
        let t15 = Tokenizer::new(&files, PgVersion::V15);
        let t18 = Tokenizer::new(&files, PgVersion::V18);
        let ok = "a".repeat(10_239);
        let long = "a".repeat(10_240);
        let line = |t: &Tokenizer<'_>, tok: &str| {
            t.tokenize_bytes("/c/h", format!("host {tok} all all md5").as_bytes())
        };
        assert_eq!(line(&t15, &ok)[0].error, None);
        assert_eq!(
            line(&t15, &long)[0].error.as_deref(),
            Some("authentication file token too long")
        );
        assert_eq!(line(&t18, &long)[0].error, None);
    }

    #[test]
    fn at_files_and_includes() {
        let mut files = MemFiles::new();
        files.insert("/c/users", "alice \"all\"\n#c\nbob,@more\n");
        files.insert("/c/more", "carol\n");
        files.insert("/c/inc/b.conf", "local all all trust\n");
        files.insert("/c/inc/a.conf", "local all all peer\n");
        files.insert("/c/inc/z.txt", "garbage\n");
        let t = Tokenizer::new(&files, PgVersion::V18);
        let lines = t.tokenize_bytes("/c/h", b"host db @users 10.0.0.0/8 md5\ninclude_dir inc\n");
        let users: Vec<_> = lines[0].fields[2]
            .iter()
            .map(|t| (t.text.as_str(), t.quoted))
            .collect();
        assert_eq!(
            users,
            vec![
                ("alice", false),
                ("all", true),
                ("bob", false),
                ("carol", false)
            ]
        );
        assert_eq!(&*lines[1].file, "/c/inc/a.conf");
        assert_eq!(&*lines[2].file, "/c/inc/b.conf");
        assert_eq!(lines.len(), 3);
    }

    #[test]
    fn self_include_hits_depth_limit() {
        let mut files = MemFiles::new();
        files.insert("/c/loop.conf", "include loop.conf\n");
        let t = Tokenizer::new(&files, PgVersion::V18);
        let lines = t.tokenize_bytes("/c/h", b"include loop.conf\n");
        assert!(lines.iter().any(|l| l
            .error
            .as_deref()
            .is_some_and(|e| e.contains("maximum nesting depth exceeded"))));
    }

    #[test]
    fn non_utf8_never_panics() {
        let files = MemFiles::new();
        let t = Tokenizer::new(&files, PgVersion::V18);
        let lines = t.tokenize_bytes("/c/h", b"host \xff\xfe all 1.2.3.4/32 md5\n\x00zz\n");
        assert_eq!(lines.len(), 1);
    }
}
