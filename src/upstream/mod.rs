//! Toward the app: endpoint choice (and later admission, breaker, retry, health).

pub mod admission;
pub mod breaker;
pub mod health;
pub mod response_check;
pub mod retry;
pub mod select;
