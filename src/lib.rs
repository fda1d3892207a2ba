//! Rampart: a hardening sidecar for legacy Python web APIs, built on Pingora.
//!
//! [`build`] is the one assembly of a running instance, used by `main` and by the tests.

pub mod admin;
#[cfg(feature = "alloc-count")]
pub mod alloc_count;
pub mod answer;
pub mod config;
pub mod config_dump;
pub mod failure;
pub mod front;
pub mod fuzz_targets;
pub mod guards;
pub mod hashing;
pub mod health;
pub mod lifecycle;
pub mod openapi;
pub mod pipeline;
pub mod policy;
pub mod proxy;
pub mod reject;
pub mod reload;
pub mod replay;
pub mod request;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod time_math;
pub mod tls;
pub mod upstream;

pub use server::{build, BuildError, BuildOptions, Rampart};
