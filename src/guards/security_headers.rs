//! Security headers (SPEC §2 `security_headers`, per-route `headers:`): the OWASP set with
//! the SPEC's defaults, compiled once into `HeaderValue`s and applied to every response —
//! proxied, generated, refused at the listener, admin.

use crate::config::model::{HeaderMode, HeaderSetting, SecurityHeaders};
use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;

/// The SPEC's defaults, sent when the section (or the key) is absent.
/// (wire name, default). The wire name is given in its usual case: Pingora keeps a header's
/// case, and handing it the cased bytes saves building them on every response.
const DEFAULTS: [(&str, Option<&str>); 9] = [
    (
        "Strict-Transport-Security",
        Some("max-age=63072000; includeSubDomains"),
    ),
    (
        "Content-Security-Policy",
        Some("default-src 'none'; frame-ancestors 'none'"),
    ),
    ("Content-Security-Policy-Report-Only", None),
    ("X-Content-Type-Options", Some("nosniff")),
    ("X-Frame-Options", Some("DENY")),
    ("Referrer-Policy", Some("no-referrer")),
    (
        "Permissions-Policy",
        Some("geolocation=(), camera=(), microphone=()"),
    ),
    ("Cross-Origin-Opener-Policy", Some("same-origin")),
    ("Cross-Origin-Resource-Policy", Some("same-origin")),
];

/// Banners Python stacks and frameworks leak; always removed from the app's responses.
const BANNERS: [&str; 2] = ["server", "x-powered-by"];

/// A compiled header set.
#[derive(Debug, Clone)]
pub struct HeaderSet {
    values: Vec<(HeaderName, HeaderValue)>,
    /// The same names as cased wire bytes, parallel to `values`.
    wire_names: Vec<Bytes>,
    /// `override`: replace what the app set; else keep the app's value.
    override_app: bool,
    remove: Vec<HeaderName>,
}

fn settings(h: &SecurityHeaders) -> [&HeaderSetting; 9] {
    [
        &h.strict_transport_security,
        &h.content_security_policy,
        &h.content_security_policy_report_only,
        &h.x_content_type_options,
        &h.x_frame_options,
        &h.referrer_policy,
        &h.permissions_policy,
        &h.cross_origin_opener_policy,
        &h.cross_origin_resource_policy,
    ]
}

/// The top-level section with every header not set there given its default (`check --dump`).
pub fn with_defaults(global: &SecurityHeaders) -> SecurityHeaders {
    let mut filled = global.clone();
    let slots = [
        &mut filled.strict_transport_security,
        &mut filled.content_security_policy,
        &mut filled.content_security_policy_report_only,
        &mut filled.x_content_type_options,
        &mut filled.x_frame_options,
        &mut filled.referrer_policy,
        &mut filled.permissions_policy,
        &mut filled.cross_origin_opener_policy,
        &mut filled.cross_origin_resource_policy,
    ];
    for (slot, (_, default)) in slots.into_iter().zip(DEFAULTS) {
        if slot.is_default() {
            *slot = default.map_or(HeaderSetting::Off, |v| HeaderSetting::Value(v.into()));
        }
    }
    filled.mode.get_or_insert_with(HeaderMode::default);
    filled
}

impl HeaderSet {
    /// The top-level section, then a route's `headers:` on top (its keys win, its `mode`
    /// wins when set, its `remove` adds to the top-level list). Invalid values were refused
    /// by validation; here they are skipped.
    pub fn compile(global: &SecurityHeaders, route: Option<&SecurityHeaders>) -> HeaderSet {
        let top = settings(global);
        let over = route.map(settings);
        let mut values = Vec::with_capacity(DEFAULTS.len());
        let mut wire_names = Vec::with_capacity(DEFAULTS.len());
        for (i, (name, default)) in DEFAULTS.iter().enumerate() {
            let chosen = match over.map(|o| o[i]) {
                Some(HeaderSetting::Default) | None => top[i],
                Some(setting) => setting,
            };
            let value = match chosen {
                HeaderSetting::Default => default.map(str::to_string),
                HeaderSetting::Off => None,
                HeaderSetting::Value(v) => Some(v.clone()),
            };
            if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                if let Ok(header) = HeaderName::from_bytes(name.as_bytes()) {
                    values.push((header, v));
                    wire_names.push(Bytes::from_static(name.as_bytes()));
                }
            }
        }
        let mode = route
            .and_then(|r| r.mode)
            .or(global.mode)
            .unwrap_or_default();
        let mut remove: Vec<HeaderName> =
            BANNERS.iter().map(|b| HeaderName::from_static(b)).collect();
        let lists = [
            global.remove.as_deref(),
            route.and_then(|r| r.remove.as_deref()),
        ];
        for name in lists.into_iter().flatten().flatten() {
            if let Ok(n) = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()) {
                if !remove.contains(&n) {
                    remove.push(n);
                }
            }
        }
        HeaderSet {
            values,
            wire_names,
            override_app: mode == HeaderMode::Override,
            remove,
        }
    }

    /// On a response from the app: strip banners and `remove`, then add the headers (keeping
    /// the app's own value in `set_if_missing` mode).
    pub fn apply_to_app_response(&self, head: &mut ResponseHeader) {
        for name in &self.remove {
            head.remove_header(name);
        }
        for ((name, value), wire) in self.values.iter().zip(&self.wire_names) {
            if self.override_app || !head.headers.contains_key(name) {
                head.insert_parsed_header(name, wire, value.clone());
            }
        }
    }

    /// On a response Rampart makes itself: all of them.
    pub fn apply_to_own_response(&self, head: &mut ResponseHeader) {
        for ((name, value), wire) in self.values.iter().zip(&self.wire_names) {
            head.insert_parsed_header(name, wire, value.clone());
        }
    }

    /// How many headers the set adds at most.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The `(name, value)` pairs, for responses built without a `ResponseHeader`.
    pub fn values(&self) -> &[(HeaderName, HeaderValue)] {
        &self.values
    }
}

#[cfg(test)]
#[path = "security_headers_tests.rs"]
mod tests;
