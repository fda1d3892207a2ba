//! `rampart replay` (SPEC §1): what a candidate config would have refused of a recorded
//! access log, decided from what the log holds (`decide.rs`), streamed line by line: memory
//! is bounded by the rate-limit key table and the report, not by the log.

pub mod decide;
pub mod log;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::BufRead;

/// Sample lines kept per (route, code).
const SAMPLES: usize = 5;
/// A sample line is cut to this many characters.
const SAMPLE_CHARS: usize = 400;

#[derive(Default)]
struct Tally {
    refused: u64,
    newly_refused: u64,
    samples: Vec<String>,
}

/// The whole report.
#[derive(Default)]
pub struct Report {
    pub total: u64,
    pub malformed: u64,
    by: BTreeMap<(String, &'static str), Tally>,
    not_replayable: Vec<String>,
    skipped: Vec<String>,
    first_malformed: Option<(u64, String)>,
}

/// Replays every line of `input` (in `format`) against the loaded config.
pub fn run(
    loaded: &crate::config::LoadedConfig,
    format: log::Format,
    mut input: impl BufRead,
) -> Result<Report, String> {
    let config = &loaded.config;
    let mut replayer = decide::Replayer::new(loaded)?;
    let mut report = Report {
        not_replayable: std::mem::take(&mut replayer.not_replayable),
        ..Report::default()
    };
    if config.routes.iter().any(|r| r.matcher.host.is_some()) {
        report.not_replayable.push(
            "match.host: the log has no Host header, routes with a host never match in the replay"
                .into(),
        );
    }
    if format == log::Format::Combined {
        report
            .skipped
            .push("max_body_bytes: the combined format has no request size".into());
    }
    // Lines are read as bytes: a log may carry raw bytes (gunicorn writes request lines as
    // received), and a line that is not UTF-8 is one malformed line, not the end (SPEC 0.3).
    let mut buf = Vec::new();
    let mut number = 0u64;
    loop {
        buf.clear();
        let read = input
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("cannot read the log: {e}"))?;
        if read == 0 {
            break;
        }
        number += 1;
        let Ok(text) = std::str::from_utf8(&buf) else {
            report.malformed += 1;
            report
                .first_malformed
                .get_or_insert_with(|| (number, cut(&String::from_utf8_lossy(&buf))));
            continue;
        };
        let line = text.trim_end_matches(['\n', '\r']);
        if line.trim().is_empty() {
            continue;
        }
        let Some(entry) = log::parse(format, line) else {
            report.malformed += 1;
            report
                .first_malformed
                .get_or_insert_with(|| (number, cut(line)));
            continue;
        };
        report.total += 1;
        let (route, refusal) = replayer.decide(&entry);
        if let Some(code) = refusal {
            let tally = report
                .by
                .entry((route.to_string(), code.as_str()))
                .or_default();
            tally.refused += 1;
            tally.newly_refused += u64::from(entry.served);
            if tally.samples.len() < SAMPLES {
                tally.samples.push(cut(line));
            }
        }
    }
    Ok(report)
}

fn cut(line: &str) -> String {
    line.chars().take(SAMPLE_CHARS).collect()
}

impl Report {
    pub fn refused(&self) -> u64 {
        self.by.values().map(|t| t.refused).sum()
    }

    pub fn json(&self) -> Value {
        json!({
            "total": self.total,
            "refused": self.refused(),
            "newly_refused": self.by.values().map(|t| t.newly_refused).sum::<u64>(),
            "by_route": self.by.iter().map(|((route, code), t)| json!({
                "route": route, "code": code, "refused": t.refused,
                "newly_refused": t.newly_refused, "samples": t.samples,
            })).collect::<Vec<_>>(),
            "malformed": self.malformed,
            "not_replayable": self.not_replayable,
            "skipped": self.skipped,
        })
    }

    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let newly: u64 = self.by.values().map(|t| t.newly_refused).sum();
        let _ = writeln!(
            out,
            "{} requests replayed: {} would be refused, {} of them served by the recorded run",
            self.total,
            self.refused(),
            newly
        );
        if !self.by.is_empty() {
            let _ = writeln!(
                out,
                "\n{:<24} {:<22} {:>9} {:>14}",
                "route", "code", "refused", "newly refused"
            );
            for ((route, code), t) in &self.by {
                let route = if route.is_empty() {
                    "(no route)"
                } else {
                    route
                };
                let _ = writeln!(
                    out,
                    "{route:<24} {code:<22} {:>9} {:>14}",
                    t.refused, t.newly_refused
                );
            }
            for ((route, code), t) in &self.by {
                let route = if route.is_empty() {
                    "(no route)"
                } else {
                    route
                };
                let _ = writeln!(out, "\n{route} {code}, e.g.:");
                for s in &t.samples {
                    let _ = writeln!(out, "  {s}");
                }
            }
        }
        for n in &self.not_replayable {
            let _ = writeln!(out, "not replayable: {n}");
        }
        for n in &self.skipped {
            let _ = writeln!(out, "skipped: {n}");
        }
        if let Some((line, text)) = &self.first_malformed {
            let _ = writeln!(
                out,
                "{} malformed lines skipped (first: line {line}: {text})",
                self.malformed
            );
        }
        out
    }
}
