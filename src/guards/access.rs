//! Who may call a route and with what: IP allow/deny lists and request media types.

use crate::reject::{Code, Reject};
use ipnet::IpNet;
use std::net::IpAddr;

/// `deny` wins over `allow`; with an `allow` list, only listed addresses pass.
pub fn check_ip(ip: IpAddr, allow: Option<&[IpNet]>, deny: &[IpNet]) -> Result<(), Reject> {
    let ip = super::forwarded::canonical(ip);
    if deny.iter().any(|n| n.contains(&ip)) {
        return Err(Reject::new(
            Code::Forbidden,
            "client address is denied on this route",
        ));
    }
    match allow {
        Some(list) if !list.iter().any(|n| n.contains(&ip)) => Err(Reject::new(
            Code::Forbidden,
            "client address is not allowed on this route",
        )),
        _ => Ok(()),
    }
}

/// The media type of a `Content-Type` value without parameters, e.g. `application/json`.
fn essence(content_type: &[u8]) -> &[u8] {
    let end = content_type
        .iter()
        .position(|b| *b == b';')
        .unwrap_or(content_type.len());
    content_type[..end].trim_ascii()
}

/// A request with a body must declare one of `allowed` (compared case-insensitively,
/// parameters such as `charset` ignored). `allowed` entries are lower-case essences.
/// A route's `content_types` as compared: lower-case media type essences.
pub fn compile_content_types(types: &[String]) -> Vec<String> {
    types
        .iter()
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect()
}

pub fn check_content_type(content_type: Option<&[u8]>, allowed: &[String]) -> Result<(), Reject> {
    let ok = content_type.map(essence).is_some_and(|got| {
        allowed
            .iter()
            .any(|a| a.as_bytes().eq_ignore_ascii_case(got))
    });
    if ok {
        Ok(())
    } else {
        Err(Reject::new(
            Code::UnsupportedMediaType,
            format!("request body must be one of: {}", allowed.join(", ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn ip_rules() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let allow = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        assert!(check_ip(ip("10.1.2.3"), Some(&allow), &[]).is_ok());
        assert!(check_ip(ip("::ffff:127.0.0.1"), Some(&allow), &[]).is_ok());
        let r = check_ip(ip("192.0.2.1"), Some(&allow), &[]).unwrap_err();
        assert_eq!((r.code, r.status), (Code::Forbidden, 403));
        let deny = nets(&["10.9.0.0/16"]);
        assert!(
            check_ip(ip("10.9.1.1"), Some(&allow), &deny).is_err(),
            "deny wins"
        );
        assert!(check_ip(ip("192.0.2.1"), None, &deny).is_ok());
        assert!(check_ip(ip("10.9.1.1"), None, &deny).is_err());
    }

    #[test]
    fn media_types() {
        let allowed = vec!["application/json".to_string()];
        assert!(check_content_type(Some(b"application/json"), &allowed).is_ok());
        assert!(check_content_type(Some(b"Application/JSON; charset=utf-8"), &allowed).is_ok());
        let r = check_content_type(Some(b"text/plain"), &allowed).unwrap_err();
        assert_eq!((r.code, r.status), (Code::UnsupportedMediaType, 415));
        assert!(check_content_type(None, &allowed).is_err());
        assert!(check_content_type(Some(b"application/jsonx"), &allowed).is_err());
    }

    #[test]
    fn configured_media_types_compile_to_lower_case_essences() {
        let configured = [
            "Application/JSON".to_string(),
            " text/csv ; charset=utf-8".to_string(),
        ];
        let allowed = compile_content_types(&configured);
        assert_eq!(allowed, ["application/json", "text/csv"]);
        assert!(check_content_type(Some(b"text/csv"), &allowed).is_ok());
    }
}
