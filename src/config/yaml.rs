//! YAML text -> a plain value tree plus an index of where every value sits in the file.
//!
//! We parse with `saphyr` (maintained YAML 1.2 parser, alias expansion budgeted against
//! "billion laughs") into its marked tree, then convert to `serde_json::Value` so the
//! typed model can be deserialized by plain serde. The [`SpanIndex`] maps the dotted field
//! path (`routes[2].rate_limit[0].rate`) to a line and column, which lets every later error,
//! including semantic ones found after parsing, point at the offending value.
//! `${VAR}` interpolation happens here, on string scalars, so its errors have positions too.

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

/// 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Default)]
pub struct SpanIndex {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl SpanIndex {
    /// Where the value at `path` starts; falls back to the closest enclosing value, so an
    /// error about a missing field points at the mapping that lacks it.
    pub fn value(&self, path: &str) -> Pos {
        let mut p = path;
        loop {
            if let Some(pos) = self.values.get(p) {
                return *pos;
            }
            match parent_path(p) {
                Some(parent) => p = parent,
                None => {
                    return self
                        .values
                        .get("")
                        .copied()
                        .unwrap_or(Pos { line: 1, column: 1 })
                }
            }
        }
    }

    /// Where the key naming `path` is written (for unknown keys), else where its value is.
    pub fn key(&self, path: &str) -> Pos {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.value(path))
    }
}

fn parent_path(p: &str) -> Option<&str> {
    if p.is_empty() {
        return None;
    }
    let cut = p.rfind(['.', '[']).unwrap_or(0);
    Some(&p[..cut])
}

/// Appends a map key to a path: `a` + `b` -> `a.b`.
pub fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// Appends a sequence index to a path: `a` + 2 -> `a[2]`.
pub fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// A problem found while reading the YAML, with the path it concerns ("" = the document).
#[derive(Debug, Clone, PartialEq)]
pub struct YamlProblem {
    pub pos: Pos,
    pub path: String,
    pub message: String,
}

pub struct Parsed {
    pub value: Value,
    pub index: SpanIndex,
}

/// Parses `text`; `env` resolves `${VAR}` (None = unset, an error).
pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Parsed, Vec<YamlProblem>> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        vec![YamlProblem {
            pos: Pos {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            path: String::new(),
            message: format!("invalid YAML: {}", e.info()),
        }]
    })?;
    if docs.len() > 1 {
        return Err(vec![YamlProblem {
            pos: pos_of(&docs[1]),
            path: String::new(),
            message: "expected one YAML document, found several".into(),
        }]);
    }
    let mut conv = Converter {
        index: SpanIndex::default(),
        problems: Vec::new(),
        env,
    };
    let value = match docs.first() {
        Some(doc) => conv.node(doc, String::new()),
        None => Value::Null,
    };
    if conv.problems.is_empty() {
        Ok(Parsed {
            value,
            index: conv.index,
        })
    } else {
        Err(conv.problems)
    }
}

fn pos_of(node: &MarkedYaml) -> Pos {
    Pos {
        line: node.span.start.line(),
        column: node.span.start.col() + 1,
    }
}

struct Converter<'e> {
    index: SpanIndex,
    problems: Vec<YamlProblem>,
    env: &'e dyn Fn(&str) -> Option<String>,
}

impl Converter<'_> {
    fn problem(&mut self, pos: Pos, path: &str, message: String) {
        self.problems.push(YamlProblem {
            pos,
            path: path.to_string(),
            message,
        });
    }

    fn node(&mut self, node: &MarkedYaml, path: String) -> Value {
        let pos = pos_of(node);
        self.index.values.insert(path.clone(), pos);
        match &node.data {
            YamlData::Value(scalar) => self.scalar(scalar, pos, &path),
            YamlData::Representation(raw, _, _) => Value::String(self.interpolate(raw, pos, &path)),
            YamlData::Tagged(_, inner) => self.node(inner, path),
            YamlData::Sequence(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.node(item, join_index(&path, i)))
                    .collect(),
            ),
            YamlData::Mapping(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let key = match &k.data {
                        YamlData::Value(Scalar::String(s)) => s.to_string(),
                        YamlData::Value(Scalar::Integer(i)) => i.to_string(),
                        YamlData::Value(Scalar::Boolean(b)) => b.to_string(),
                        _ => {
                            self.problem(
                                pos_of(k),
                                &path,
                                "mapping keys must be plain strings".into(),
                            );
                            continue;
                        }
                    };
                    let child = join_key(&path, &key);
                    self.index.keys.insert(child.clone(), pos_of(k));
                    let value = self.node(v, child);
                    out.insert(key, value);
                }
                Value::Object(out)
            }
            YamlData::Alias(_) | YamlData::BadValue => {
                self.problem(
                    pos,
                    &path,
                    "unresolvable YAML value (unknown alias?)".into(),
                );
                Value::Null
            }
        }
    }

    fn scalar(&mut self, scalar: &Scalar, pos: Pos, path: &str) -> Value {
        match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::Number((*i).into()),
            Scalar::FloatingPoint(f) => match Number::from_f64(f.into_inner()) {
                Some(n) => Value::Number(n),
                None => {
                    self.problem(pos, path, "expected a finite number".into());
                    Value::Null
                }
            },
            Scalar::String(s) => Value::String(self.interpolate(s, pos, path)),
        }
    }

    /// Replaces `${VAR}` with the environment's value; `$${` stays a literal `${`.
    fn interpolate(&mut self, s: &str, pos: Pos, path: &str) -> String {
        if !s.contains("${") {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            if rest[..start].ends_with('$') {
                out.push_str(&rest[..start - 1]);
                out.push_str("${");
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                self.problem(pos, path, format!("unterminated \"${{\" in \"{s}\""));
                return out;
            };
            let name = &after[..end];
            let valid = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                self.problem(
                    pos,
                    path,
                    format!("invalid variable name \"{name}\" in \"${{{name}}}\""),
                );
            } else {
                match (self.env)(name) {
                    Some(v) => out.push_str(&v),
                    None => self.problem(
                        pos,
                        path,
                        format!("environment variable {name} is not set (used as ${{{name}}})"),
                    ),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn index_points_at_values_and_keys() {
        let text =
            "server:\n  listen: 0.0.0.0:8080\nroutes:\n  - name: a\n    match: { path: /x }\n";
        let parsed = parse(text, &no_env).unwrap();
        assert_eq!(
            parsed.index.value("server.listen"),
            Pos {
                line: 2,
                column: 11
            }
        );
        assert_eq!(
            parsed.index.key("server.listen"),
            Pos { line: 2, column: 3 }
        );
        assert_eq!(
            parsed.index.value("routes[0].name"),
            Pos {
                line: 4,
                column: 11
            }
        );
        assert_eq!(
            parsed.index.value("routes[0].match.path"),
            Pos {
                line: 5,
                column: 20
            }
        );
        // A path that does not exist falls back to its closest parent.
        assert_eq!(
            parsed.index.value("routes[0].match.nope"),
            Pos {
                line: 5,
                column: 12
            }
        );
        assert_eq!(parsed.value["routes"][0]["match"]["path"], "/x");
    }

    #[test]
    fn interpolates_and_reports_unset_variables() {
        let env = |k: &str| (k == "TOKEN").then(|| "s3cr3t".to_string());
        let parsed = parse("a: \"x-${TOKEN}-y\"\nb: $${LITERAL}\n", &env).unwrap();
        assert_eq!(parsed.value["a"], "x-s3cr3t-y");
        assert_eq!(parsed.value["b"], "${LITERAL}");
        let errs = parse("a: ok\nb: ${MISSING}\n", &env).err().unwrap();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path, "b");
        assert_eq!(errs[0].pos, Pos { line: 2, column: 4 });
        assert!(
            errs[0].message.contains("MISSING is not set"),
            "{}",
            errs[0].message
        );
    }

    #[test]
    fn syntax_errors_have_positions() {
        let errs = parse("a: [1, 2\nb: 3\n", &no_env).err().unwrap();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].pos.line >= 1);
        assert!(errs[0].message.starts_with("invalid YAML"));
    }

    #[test]
    fn scalars_keep_their_types() {
        let parsed = parse("i: 5\nf: 0.5\nb: true\nn: null\ns: '5'\n", &no_env).unwrap();
        assert_eq!(parsed.value["i"], 5);
        assert_eq!(parsed.value["f"], 0.5);
        assert_eq!(parsed.value["b"], true);
        assert!(parsed.value["n"].is_null());
        assert_eq!(parsed.value["s"], "5");
    }
}
