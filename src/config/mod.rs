//! The config file: model, units, YAML positions, loading and validation.

pub mod load;
pub mod model;
pub mod problems;
pub mod schema_file;
pub mod serialize;
pub mod tls_files;
pub mod units;
pub mod validate;
pub mod yaml;
pub mod yaml_emit;

pub use load::{load_file, load_str, ConfigError, ConfigErrors, LoadedConfig};
pub use model::Config;
