//! Pure decision cores: no Pingora `Session`, no I/O, no clock of their own.

pub mod access;
pub mod body;
pub mod cors;
pub mod forwarded;
pub mod rate_limit;
pub mod routing;
pub mod schema;
pub mod security_headers;
pub mod trace;
pub mod uploads;
pub mod websocket;
