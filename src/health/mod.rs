//! Health: active checks of the app's endpoints and of `health.dependencies` (in the
//! background, never on the request path), the probes they run, what `/health` and
//! `/readyz` report, and the `rampart healthcheck` command that asks them.

pub mod checks;
pub mod command;
pub mod probe;
pub mod report;
