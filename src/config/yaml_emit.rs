//! A YAML writer for `check --dump`: block style, two-space indents. A string is written
//! plain only when YAML cannot read it as anything else (a word or a path); every other string
//! is double-quoted with JSON's escapes, which YAML reads the same way.

use serde_json::{Map, Value};

pub fn emit(value: &Value, out: &mut String) {
    match value {
        Value::Object(m) if !m.is_empty() => mapping(m, 0, out),
        Value::Array(a) if !a.is_empty() => sequence(a, 0, out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn pad(indent: usize, out: &mut String) {
    out.extend(std::iter::repeat_n(' ', indent));
}

fn mapping(m: &Map<String, Value>, indent: usize, out: &mut String) {
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            pad(indent, out);
        }
        out.push_str(&string(k));
        out.push(':');
        after_key(v, indent, out);
    }
}

/// A mapping's value: nested collections on the next lines, scalars after the key.
fn after_key(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            pad(indent + 2, out);
            mapping(m, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            sequence(a, indent + 2, out);
        }
        _ => {
            out.push(' ');
            out.push_str(&scalar(v));
            out.push('\n');
        }
    }
}

fn sequence(a: &[Value], indent: usize, out: &mut String) {
    for item in a {
        pad(indent, out);
        out.push('-');
        match item {
            // The item's first key shares the dash's line: "- name: api".
            Value::Object(m) if !m.is_empty() => {
                out.push(' ');
                mapping(m, indent + 2, out);
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                sequence(inner, indent + 2, out);
            }
            _ => {
                out.push(' ');
                out.push_str(&scalar(item));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn string(s: &str) -> String {
    const WORDS: [&str; 11] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~", "",
    ];
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-'))
        && !WORDS.iter().any(|w| s.eq_ignore_ascii_case(w));
    if plain {
        s.to_string()
    } else {
        // Cannot fail: a string always serializes.
        serde_json::to_string(s).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_as_the_same_value() {
        let value = serde_json::json!({
            "server": {"listen": "0.0.0.0:8080", "threads": 2, "h2c": false, "tls": null},
            "routes": [
                {"name": "api", "match": {"path_prefix": "/", "methods": ["GET", "POST"]},
                 "rate_limit": [{"rate": "60/minute", "key": "header:X-Api-Key"}], "deny_ips": []},
                {"name": "no", "headers": {}}
            ],
            "odd": ["yes", "", "10s", "a: b", "#x", "line\nbreak", "Null", "1.2", "-x"],
            "nested": [[1, 2], []]
        });
        let mut out = String::new();
        emit(&value, &mut out);
        let back = crate::config::yaml::parse(&out, &|_| None)
            .unwrap_or_else(|e| panic!("{e:?}\n{out}"))
            .value;
        assert_eq!(back, value, "{out}");
        assert!(
            out.contains("\n  - name: api\n    match:\n      path_prefix: /\n"),
            "{out}"
        );
    }
}
