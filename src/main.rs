//! The `rampart` command line (SPEC §1).

use clap::{Parser, Subcommand};
use rampart::config::{load_file, LoadedConfig};
use rampart::{build, BuildOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[cfg(not(feature = "alloc-count"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(feature = "alloc-count")]
#[global_allocator]
static GLOBAL: rampart::alloc_count::Counting = rampart::alloc_count::Counting;

#[derive(Parser)]
#[command(
    name = "rampart",
    version,
    about = "A hardening sidecar for legacy Python web APIs"
)]
struct Cli {
    /// The config file.
    #[arg(long, short = 'c', env = "RAMPART_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Take over the listening sockets of a running Rampart (graceful binary upgrade).
    #[arg(long)]
    upgrade: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the config file: prints `ok`, or every problem, and exits 0 or 1.
    Check {
        /// When valid, print the effective config (every default filled in) as YAML.
        #[arg(long)]
        dump: bool,
    },
    /// Exit 0 when the running instance's admin `/readyz` answers 200, 1 otherwise (a Docker
    /// HEALTHCHECK for an image with no shell). Reads `server.admin_listen` from the config.
    Healthcheck {
        /// How long to wait for the connection and for the answer.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
    /// Write DIR/rampart.yaml and DIR/schemas/*.json from the app's OpenAPI 3.0/3.1 document:
    /// an allowlist of its paths and methods, with its request-body schemas.
    ImportOpenapi {
        /// The document's URL (FastAPI serves it at /openapi.json).
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        url: Option<String>,
        /// The document as a file (JSON or YAML).
        #[arg(long)]
        file: Option<PathBuf>,
        /// The app's address (host:port or unix:/path), the `app` upstream's endpoint.
        #[arg(long)]
        upstream: String,
        /// Where to write rampart.yaml and schemas/.
        #[arg(long)]
        out: PathBuf,
    },
    /// What the config (--config) would have refused of a recorded access log.
    Replay {
        /// The access log (`-`: standard input).
        #[arg(long)]
        log: String,
        #[arg(long, value_enum, default_value = "rampart")]
        log_format: LogFormat,
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Rampart's JSON access log.
    Rampart,
    /// The NGINX / Apache / gunicorn combined format.
    Combined,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Table,
    Json,
}

fn load(path: Option<PathBuf>) -> Result<LoadedConfig, ExitCode> {
    let Some(path) = path else {
        eprintln!("rampart: no config file: pass --config FILE or set RAMPART_CONFIG");
        return Err(ExitCode::from(2));
    };
    load_file(&path).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(1)
    })
}

fn check(loaded: &LoadedConfig, dump: bool) -> ExitCode {
    if !dump {
        println!("ok");
        return ExitCode::SUCCESS;
    }
    match rampart::config_dump::effective_yaml(loaded) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rampart: {e}");
            ExitCode::from(1)
        }
    }
}

fn import_openapi(
    file: Option<&std::path::Path>,
    url: Option<&str>,
    upstream: &str,
    out: &std::path::Path,
) -> ExitCode {
    use rampart::openapi;
    let result = openapi::read(file, url).and_then(|(text, location)| {
        let doc = openapi::parse(&text)?;
        let generated = openapi::generate(&doc, &location, upstream)?;
        openapi::write(out, &generated)?;
        Ok(generated)
    });
    match result {
        Ok(g) => {
            println!(
                "wrote {}: {} routes, {} JSON schemas in schemas/, {} things not enforced (listed as comments)",
                out.join("rampart.yaml").display(),
                g.routes,
                g.schemas.len(),
                g.notes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rampart: import-openapi: {e}");
            ExitCode::from(1)
        }
    }
}

fn replay(
    loaded: &LoadedConfig,
    log: &str,
    log_format: LogFormat,
    format: ReportFormat,
) -> ExitCode {
    use rampart::replay::{self, log::Format};
    let log_format = match log_format {
        LogFormat::Rampart => Format::Rampart,
        LogFormat::Combined => Format::Combined,
    };
    let input: Box<dyn std::io::BufRead> = if log == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        match std::fs::File::open(log) {
            Ok(f) => Box::new(std::io::BufReader::with_capacity(1 << 20, f)),
            Err(e) => {
                eprintln!("rampart: replay: cannot open {log}: {e}");
                return ExitCode::from(1);
            }
        }
    };
    match replay::run(loaded, log_format, input) {
        Ok(report) => {
            match format {
                ReportFormat::Json => println!("{}", report.json()),
                ReportFormat::Table => print!("{}", report.table()),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rampart: replay: {e}");
            ExitCode::from(1)
        }
    }
}

fn healthcheck(config: Option<PathBuf>, timeout: std::time::Duration) -> ExitCode {
    let Some(config) = config else {
        eprintln!("rampart: no config file: pass --config FILE or set RAMPART_CONFIG");
        return ExitCode::from(1);
    };
    match rampart::health::command::run(&config, timeout) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("rampart: {message}");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    // SIGHUP's default action kills the process: the reload handler goes in before anything
    // else, so a HUP at any moment reloads (or, during `check`, is harmless).
    rampart::reload::triggers::install_sighup_handler();
    // mimalloc's arena settings only apply from the first allocation: get them into the
    // environment (one exec, same pid) before anything else allocates much.
    rampart::lifecycle::memory::reexec_with_allocator_settings();
    rampart::lifecycle::memory::tune_allocator();
    #[cfg(feature = "alloc-count")]
    rampart::alloc_count::report();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck { timeout }) => return healthcheck(cli.config, timeout),
        Some(Command::ImportOpenapi {
            url,
            file,
            upstream,
            out,
        }) => return import_openapi(file.as_deref(), url.as_deref(), &upstream, &out),
        _ => {}
    }
    let loaded = match load(cli.config) {
        Ok(l) => l,
        Err(code) => return code,
    };
    match cli.command {
        Some(Command::Check { dump }) => return check(&loaded, dump),
        Some(Command::Replay {
            log,
            log_format,
            format,
        }) => return replay(&loaded, &log, log_format, format),
        _ => {}
    }
    rampart::telemetry::init(loaded.config.logging.format, &loaded.config.logging.level);
    let file = loaded.file.clone();
    let pid_path = loaded
        .config
        .server
        .pid_file
        .clone()
        .map(std::path::PathBuf::from);
    let rampart = match build(
        loaded,
        BuildOptions {
            upgrade: cli.upgrade,
        },
    ) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rampart: {e}");
            return ExitCode::from(1);
        }
    };
    let (listen, admin) = (rampart.listen_addr, rampart.admin_addr);
    let pid_file = match pid_path
        .as_deref()
        .map(rampart::lifecycle::pid_file::PidFile::write)
    {
        None => None,
        Some(Ok(p)) => Some(std::sync::Arc::new(p)),
        Some(Err(e)) => {
            eprintln!("rampart: server.pid_file: cannot write it: {e}");
            return ExitCode::from(1);
        }
    };
    let at_exit = {
        let pid_file = pid_file.clone();
        move || {
            if let Some(p) = &pid_file {
                p.remove();
            }
            rampart::telemetry::flush();
        }
    };
    rampart::lifecycle::shutdown::drain_monitor(
        &rampart.server,
        rampart.shared.clone(),
        rampart.grace_period,
        Box::new(at_exit),
    );
    let watch = rampart::lifecycle::shutdown::SignalWatch {
        shared: rampart.shared.clone(),
        on_ready: Box::new(move || {
            tracing::info!(
                config = file.as_str(),
                listen = %listen,
                admin = %admin,
                version = env!("CARGO_PKG_VERSION"),
                "rampart started"
            );
        }),
    };
    rampart.server.run(pingora::server::RunArgs {
        shutdown_signal: Box::new(watch),
    });
    tracing::info!("rampart stopped");
    if let Some(p) = &pid_file {
        p.remove();
    }
    rampart::telemetry::flush();
    ExitCode::SUCCESS
}
