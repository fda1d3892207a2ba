//! Sections this version parses and validates but does not enforce yet. They are reported
//! at start so nobody believes a protection is on when it is not.

use super::model::Config;

/// Field paths of configured settings that this version accepts without acting on them.
pub fn not_yet_enforced(c: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |cond: bool, path: String| {
        if cond {
            out.push(path);
        }
    };
    for (i, r) in c.routes.iter().enumerate() {
        let p = format!("routes[{i}]");
        note(r.headers.is_some(), format!("{p}.headers"));
        note(r.cors.is_some(), format!("{p}.cors"));
    }
    note(c.cors.is_some(), "cors".into());
    out
}
