//! What `explain` found, layer by layer, and how it is shown: text (with ANSI
//! colour only when asked for or when stdout is a terminal) or JSON.

use gatehouse_proxy::refusal::Refusal;
use serde_json::{json, Map, Value};

use crate::output::{printable, say, MAX_MESSAGE};

/// One layer's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The layer lets the connection through.
    Allowed,
    /// The layer stops it.
    Refused,
    /// Not decided here: not asked for, not reached, or not checkable offline.
    Skipped,
}

impl Verdict {
    fn word(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Refused => "refused",
            Verdict::Skipped => "skipped",
        }
    }
}

/// What the client is told when a layer refuses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSees {
    /// The SQLSTATE of the FATAL ErrorResponse; `None` when no message is sent at all
    /// (the connection is closed, or TLS is declined).
    pub sqlstate: Option<&'static str>,
    /// The error message, or what the client library reports when none is sent.
    pub message: String,
    /// The ErrorResponse's detail, when PostgreSQL sends one.
    pub detail: Option<String>,
}

impl From<&Refusal> for ClientSees {
    fn from(r: &Refusal) -> Self {
        ClientSees {
            sqlstate: Some(r.sqlstate),
            message: r.message.clone(),
            detail: r.detail.clone(),
        }
    }
}

impl ClientSees {
    /// No ErrorResponse: `what` says what the client notices.
    pub fn nothing(what: impl Into<String>) -> Self {
        ClientSees {
            sqlstate: None,
            message: what.into(),
            detail: None,
        }
    }
}

/// A pg_hba.conf line to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HbaEdit {
    /// The file to edit.
    pub file: String,
    /// Insert before this line of `file`; `None`: at the end of the file.
    pub before_line: Option<u32>,
    /// The line.
    pub text: String,
}

/// What change would let the connection in.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fix {
    /// The change, in words.
    pub text: String,
    /// Shell commands that make it (ready to paste; arguments quoted).
    pub commands: Vec<String>,
    /// A pg_hba.conf line to add.
    pub hba_line: Option<HbaEdit>,
    /// A policy document to add.
    pub policy: Option<Value>,
}

impl Fix {
    /// A fix described in words only.
    pub fn says(text: impl Into<String>) -> Self {
        Fix {
            text: text.into(),
            ..Fix::default()
        }
    }

    /// The same fix with one more command.
    pub fn command(mut self, c: impl Into<String>) -> Self {
        self.commands.push(c.into());
        self
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("text".into(), json!(self.text));
        m.insert("commands".into(), json!(self.commands));
        if let Some(h) = &self.hba_line {
            m.insert(
                "hba_line".into(),
                json!({"file": h.file, "before_line": h.before_line, "text": h.text}),
            );
        }
        if let Some(p) = &self.policy {
            m.insert("policy".into(), p.clone());
        }
        Value::Object(m)
    }
}

/// One layer's report.
#[derive(Clone, Debug)]
pub struct Layer {
    /// `network`, `tls`, `hba` or `auth`.
    pub name: &'static str,
    /// The answer.
    pub verdict: Verdict,
    /// One line: the deciding rule or the reason.
    pub detail: String,
    /// The deciding rule as data (`None` when no rule decided).
    pub rule: Option<Value>,
    /// More lines for people.
    pub notes: Vec<String>,
    /// What the client would be told (refusals only).
    pub client_sees: Option<ClientSees>,
    /// What would let the connection in (refusals, and skipped layers that need
    /// something).
    pub fix: Option<Fix>,
    /// Layer-specific data for scripts.
    pub extra: Vec<(&'static str, Value)>,
}

impl Layer {
    /// A layer answer with nothing but a verdict and a detail line.
    pub fn new(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Self {
        Layer {
            name,
            verdict,
            detail: detail.into(),
            rule: None,
            notes: Vec::new(),
            client_sees: None,
            fix: None,
            extra: Vec::new(),
        }
    }

    /// Adds a note line.
    pub fn note(&mut self, n: impl Into<String>) {
        self.notes.push(n.into());
    }

    fn title(&self) -> &'static str {
        match self.name {
            "network" => "1 network",
            "tls" => "2 tls",
            "hba" => "3 pg_hba",
            _ => "4 auth",
        }
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("layer".into(), json!(self.name));
        m.insert("verdict".into(), json!(self.verdict.word()));
        m.insert("rule".into(), self.rule.clone().unwrap_or(Value::Null));
        m.insert("detail".into(), json!(self.detail));
        m.insert("notes".into(), json!(self.notes));
        m.insert(
            "client_sees".into(),
            match &self.client_sees {
                None => Value::Null,
                Some(c) => {
                    json!({"sqlstate": c.sqlstate, "message": c.message, "detail": c.detail})
                }
            },
        );
        m.insert(
            "fix".into(),
            self.fix.as_ref().map_or(Value::Null, Fix::to_json),
        );
        for (k, v) in &self.extra {
            m.insert((*k).into(), v.clone());
        }
        Value::Object(m)
    }
}

/// Every layer's report and the connection they are about.
pub struct Report {
    /// The connection, as data.
    pub connection: Value,
    /// The connection, in words.
    pub headline: String,
    /// Layers 1–4 in order.
    pub layers: Vec<Layer>,
}

impl Report {
    /// The first layer that refuses, if any.
    pub fn refused_by(&self) -> Option<&Layer> {
        self.layers.iter().find(|l| l.verdict == Verdict::Refused)
    }

    /// `{"connection":…,"layers":[…],"decision":"allowed"|"refused","decided_by":…}`.
    pub fn to_json(&self) -> Value {
        json!({
            "connection": self.connection,
            "layers": self.layers.iter().map(Layer::to_json).collect::<Vec<_>>(),
            "decision": if self.refused_by().is_some() { "refused" } else { "allowed" },
            "decided_by": self.refused_by().map(|l| l.name),
        })
    }

    /// The text for people; `colour` adds ANSI styles. Every value that came from a
    /// file or the command line is escaped ([`printable`]), so it cannot drive the
    /// terminal.
    pub fn to_text(&self, colour: bool, out: &mut String) {
        let st = Style(colour);
        say!(
            out,
            "{} {}",
            st.bold("explain:"),
            printable(&self.headline, MAX_MESSAGE)
        );
        for l in &self.layers {
            let verdict = match l.verdict {
                Verdict::Allowed => st.paint("32", "allowed"),
                Verdict::Refused => st.paint("1;31", "refused"),
                Verdict::Skipped => st.paint("33", "skipped"),
            };
            say!(out);
            say!(
                out,
                "{}  {verdict}  {}",
                st.bold(&format!("{:<9}", l.title())),
                printable(&l.detail, MAX_MESSAGE)
            );
            for n in &l.notes {
                say!(out, "    {}", printable(n, MAX_MESSAGE));
            }
            if let Some(c) = &l.client_sees {
                let text = match c.sqlstate {
                    Some(code) => format!("FATAL {code} {}", c.message),
                    None => c.message.clone(),
                };
                say!(
                    out,
                    "    {} {}",
                    st.paint("1", "the client sees:"),
                    printable(&text, MAX_MESSAGE)
                );
                if let Some(d) = &c.detail {
                    say!(out, "      DETAIL: {}", printable(d, MAX_MESSAGE));
                }
            }
            if let Some(f) = &l.fix {
                let more = f.hba_line.is_some() || f.policy.is_some() || !f.commands.is_empty();
                say!(
                    out,
                    "    {} {}{}",
                    st.paint("36", "fix:"),
                    printable(&f.text, MAX_MESSAGE),
                    if more { ":" } else { "" }
                );
                if let Some(h) = &f.hba_line {
                    say!(out, "      {}", printable(&h.text, MAX_MESSAGE));
                }
                if let Some(p) = &f.policy {
                    let doc = serde_json::to_string_pretty(p).unwrap_or_default();
                    for line in doc.lines() {
                        say!(out, "      {}", printable(line, MAX_MESSAGE));
                    }
                }
                for c in &f.commands {
                    say!(out, "      {}", printable(c, 4 * MAX_MESSAGE));
                }
            }
        }
        say!(out);
        match self.refused_by() {
            Some(l) => say!(
                out,
                "{} {} (layer {})",
                st.bold("decision:"),
                st.paint("1;31", "refused"),
                l.title()
            ),
            None => {
                let unchecked: Vec<&str> = self
                    .layers
                    .iter()
                    .filter(|l| l.verdict == Verdict::Skipped)
                    .map(|l| l.name)
                    .collect();
                if unchecked.is_empty() {
                    say!(
                        out,
                        "{} {}",
                        st.bold("decision:"),
                        st.paint("32", "allowed")
                    );
                } else {
                    say!(
                        out,
                        "{} {} by every layer checked (not decided offline: {})",
                        st.bold("decision:"),
                        st.paint("32", "allowed"),
                        unchecked.join(", ")
                    );
                }
            }
        }
    }
}

/// ANSI styles, or none.
struct Style(bool);

impl Style {
    fn paint(&self, sgr: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{sgr}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }

    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

/// `s` as one shell word: unchanged when it holds only characters no shell treats
/// specially, else in single quotes (a `'` inside written `'\''`).
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'-' | b'.' | b'/' | b':' | b',' | b'@' | b'%' | b'+' | b'='
                )
        });
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `gatehouse` and `args`, each a shell word.
pub fn shell_command(args: &[&str]) -> String {
    let mut out = String::from("gatehouse");
    for a in args {
        out.push(' ');
        out.push_str(&shell_word(a));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_a_shell() {
        assert_eq!(shell_word("sg-db"), "sg-db");
        assert_eq!(shell_word("10.0.0.1/32"), "10.0.0.1/32");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("{\"a\":1}"), "'{\"a\":1}'");
        // The quoted forms read back as the original through a real shell.
        for s in ["a b", "it's", "", "$HOME;`x`", "{\"Sid\":\"A\"}", "é"] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_word(s)))
                .output()
                .expect("sh");
            assert_eq!(String::from_utf8_lossy(&out.stdout), s);
        }
    }

    #[test]
    fn no_escape_codes_without_colour() {
        let mut l = Layer::new("network", Verdict::Refused, "denied \u{1b}[31m");
        l.client_sees = Some(ClientSees::nothing("closed"));
        l.fix = Some(Fix::says("allow it").command("gatehouse sg x"));
        let r = Report {
            connection: json!({}),
            headline: "x".into(),
            layers: vec![l],
        };
        let mut plain = String::new();
        r.to_text(false, &mut plain);
        assert!(!plain.contains('\u{1b}'), "{plain}");
        let mut coloured = String::new();
        r.to_text(true, &mut coloured);
        assert!(coloured.contains("\u{1b}[1;31mrefused"), "{coloured}");
        // The escape in the detail is shown escaped, even in colour.
        assert!(coloured.contains("\\u{1b}[31m"), "{coloured}");
        assert_eq!(r.to_json()["decision"], "refused");
        assert_eq!(r.to_json()["decided_by"], "network");
    }
}
