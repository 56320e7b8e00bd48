//! The README's five-minute tour, command by command, as a new user runs it: the
//! `console` blocks between `<!-- TOUR -->` and `<!-- /TOUR -->` are the script. The
//! first command (`./scripts/quickstart`) starts `gatehouse quickstart` in a fresh
//! directory; every later `$ ` line runs in bash there (earlier `export`s carried
//! over), with `gatehouse` on PATH and the README's port 6432 replaced by a free one.
//! Each output line the README shows must appear in what the command printed
//! (whitespace-insensitive; `…` stands for text that differs between runs), and a
//! command whose README output shows an error (or explain's `decision: refused`) must fail.
#![allow(clippy::unwrap_used)]

mod support;
use support::{free_port_v4_v6, repo};

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

struct Step {
    command: String,
    expected: Vec<String>,
}

/// The tour's commands and expected output lines, in order.
fn tour() -> Vec<Step> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("<!-- TOUR -->")
        .expect("README has <!-- TOUR -->");
    let end = readme
        .find("<!-- /TOUR -->")
        .expect("README has <!-- /TOUR -->");
    let mut steps: Vec<Step> = Vec::new();
    let mut in_block = false;
    for line in readme[start..end].lines() {
        if line.starts_with("```") {
            in_block = line.starts_with("```console");
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ ") {
            steps.push(Step {
                command: cmd.to_owned(),
                expected: Vec::new(),
            });
        } else if let Some(last) = steps.last_mut() {
            if !line.trim().is_empty() {
                last.expected.push(line.to_owned());
            }
        }
    }
    assert!(
        steps.len() >= 5,
        "the tour has too few commands: {}",
        steps.len()
    );
    steps
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `expected` (with `…` for varying text) appears in one line of `output`.
fn shown(expected: &str, output: &str) -> bool {
    let parts: Vec<String> = expected.split('…').map(squash).collect();
    output.lines().map(squash).any(|line| {
        let mut at = 0;
        parts.iter().all(|p| match line[at..].find(p.as_str()) {
            Some(i) => {
                at += i + p.len();
                true
            }
            None => false,
        })
    })
}

#[test]
fn the_readme_tour_works_as_written() {
    let steps = tour();
    assert_eq!(
        steps[0].command.trim(),
        "./scripts/quickstart",
        "the tour starts with ./scripts/quickstart"
    );
    let port = free_port_v4_v6().to_string();
    let dir = tempfile::tempdir().unwrap();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_gatehouse"));
    let bin_dir = bin.parent().unwrap().to_path_buf();
    let path = format!(
        "{}:{}:{}",
        bin_dir.display(),
        repo().join(".venv/bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );

    // Step 1: the quickstart, in the background, until its ready line.
    let mut qs = Command::new(&bin)
        .args(["quickstart", "--port", &port])
        .current_dir(dir.path())
        .env("PATH", &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = qs.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut banner = String::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                banner.push_str(&line);
                banner.push('\n');
                if line.contains("gatehouse quickstart is ready") {
                    break;
                }
            }
            Err(e) => {
                let _ = qs.kill();
                panic!("quickstart did not get ready ({e}):\n{banner}");
            }
        }
    }
    for e in &steps[0].expected {
        let e = e.replace("6432", &port);
        assert!(
            shown(&e, &banner),
            "quickstart did not print {e:?}:\n{banner}"
        );
    }

    // The other steps, each in bash, with the exports before it.
    let mut exports: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    for step in &steps[1..] {
        let command = step.command.replace("6432", &port);
        let script = format!("{}\n{command}", exports.join("\n"));
        let o = Command::new("bash")
            .args(["-c", &script])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env_remove("PGPASSWORD")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        let output = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let expects_error = step.expected.iter().any(|l| {
            l.contains("error:")
                || l.starts_with("ERROR:")
                || l.contains("FATAL:")
                || l.starts_with("decision: refused")
        });
        if expects_error == o.status.success() {
            failures.push(format!(
                "`{command}`: exit {:?}, the README implies {}:\n{output}",
                o.status.code(),
                if expects_error {
                    "a failure"
                } else {
                    "success"
                }
            ));
        }
        for e in &step.expected {
            let e = e.replace("6432", &port);
            if !shown(&e, &output) {
                failures.push(format!(
                    "`{command}` did not print {e:?}; it printed:\n{output}"
                ));
            }
        }
        if command.starts_with("export ") {
            exports.push(command);
        }
    }
    // Ctrl-C: the quickstart stops the gateway and PostgreSQL.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(qs.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = qs.wait().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(status.success(), "quickstart exit {status:?}");
}
