//! Rampart: a hardening sidecar for legacy Python web APIs, built on Pingora.
//!
//! [`build`] is the one assembly of a running instance, used by `main` and by the tests.

pub mod access_log;
pub mod admin;
#[cfg(feature = "alloc-count")]
pub mod alloc_count;
pub mod answer;
pub mod config;
pub mod config_dump;
pub mod config_state;
pub mod failure;
pub mod front;
pub mod fuzz_targets;
pub mod guards;
pub mod hashing;
pub mod health_checks;
pub mod health_report;
pub mod healthcheck;
pub mod housekeeping;
pub mod memory;
pub mod metrics;
pub mod openapi;
pub mod pid_file;
pub mod pipeline;
pub mod policy;
pub mod probe;
pub mod proxy;
pub mod reject;
pub mod reload;
pub mod reload_triggers;
pub mod replay;
pub mod request;
pub mod request_metrics;
pub mod server;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod time_math;
pub mod tls;
pub mod upstream;

pub use server::{build, BuildError, BuildOptions, Rampart};
