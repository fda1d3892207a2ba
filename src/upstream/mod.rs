//! Toward the app: endpoint choice (and later admission, breaker, retry, health).

pub mod admission;
pub mod select;
