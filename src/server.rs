//! Assembly: config -> policy -> Pingora server with the public and admin services.

use crate::admin::AdminApp;
use crate::config::LoadedConfig;
use crate::front::ConnectionApp;
use crate::lifecycle::housekeeping::Housekeeping;
use crate::policy::{CompileError, Policy};
use crate::proxy::RampartProxy;
use crate::reload::config_state::{ConfigInfo, ConfigState, FixedSettings};
use crate::reload::triggers::ReloadTriggers;
use crate::state::{Door, Shared};
use crate::telemetry::metrics::Metrics;
use async_trait::async_trait;
use pingora::listeners::ListenerConfig;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{ListenFds, Server, ShutdownWatch};
use pingora::services::listening::Service as ListeningService;
use pingora::services::Service;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::Arc;

/// No per-connection read buffer under the front door: it reads every head into its own
/// pending bytes (sized for what arrived), so Pingora's buffer (64 KiB by default, 8 KiB in
/// 0.1) only copied the bytes twice and stayed allocated on every idle keep-alive
/// connection (`bench/run storm`: 18.7 KiB per idle connection with 8 KiB, 14.1 KiB without).
const DOWNSTREAM_READ_BUFFER: usize = 0;
/// Pingora's own listen backlog.
const LISTEN_BACKLOG: i32 = 65535;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{field}: cannot listen on {addr}: {source}")]
    Bind {
        field: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("server.tls: {0}")]
    Tls(String),
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Take the listening sockets over from a running Rampart (`--upgrade`).
    pub upgrade: bool,
}

/// A built, not yet running, Rampart.
pub struct Rampart {
    pub server: Server,
    pub shared: Arc<Shared>,
    /// The public address actually bound (differs from the config for port 0).
    pub listen_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// `server.grace_period` (fixed at start), for `shutdown::drain_monitor`.
    pub grace_period: std::time::Duration,
}

pub fn build(loaded: LoadedConfig, options: BuildOptions) -> Result<Rampart, BuildError> {
    let c = &loaded.config;
    let metrics = Metrics::new()?;
    let policy = Policy::compile(&loaded, None, 1)?;
    metrics.record_load(1);
    if let Some(tls) = &policy.tls_cert {
        metrics.enable_tls_expiry()?;
        metrics.record_certificate(tls.not_after);
    }
    let shared = Shared::new(
        policy,
        metrics,
        ConfigState::new(
            std::path::PathBuf::from(&loaded.file),
            ConfigInfo::of_text(&loaded.text),
            FixedSettings::of(c),
        ),
    );

    // Pingora waits its whole grace period after it stops accepting, then gives runtimes
    // a last second: a backstop only. `shutdown::drain_monitor` exits once every connection
    // is done, or when `grace_period` since the signal is over (WebSockets told first).
    let grace = crate::lifecycle::shutdown::pingora_grace_seconds(c.server.grace_period.0);
    let conf = ServerConf {
        threads: c
            .server
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from)),
        grace_period_seconds: Some(grace),
        graceful_shutdown_timeout_seconds: Some(1),
        upgrade_sock: c.server.upgrade_sock.clone(),
        work_stealing: false,
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: options.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let (listen_addr, listen_fd) = bind("server.listen", &c.server.listen, options.upgrade)?;
    let admin = &c.server.admin_listen;
    let (admin_addr, admin_fd) = bind("server.admin_listen", admin, options.upgrade)?;

    let mut proxy = pingora::proxy::http_proxy(
        &server.configuration,
        RampartProxy {
            shared: Arc::clone(&shared),
        },
    );
    // HTTP/2 connections are handed whole to Pingora's connection loop by the front door;
    // a cleartext one only after it saw the h2c preface.
    let mut options = pingora::apps::HttpServerOptions::default();
    options.h2c = c.server.h2c;
    // An idle HTTP/2 connection is closed like an idle HTTP/1.1 one (SPEC 0.3): its first
    // request within `header_timeout`, then `idle_timeout` with no open stream.
    options.h2_idle_timeout = Some(c.client.idle_timeout.0);
    options.h2_first_request_timeout = Some(c.client.header_timeout.0);
    proxy.server_options = Some(options);
    proxy.h2_options = Some(crate::tls::h2_limits(&shared.policy.load().client.head));
    // TLS is handshaken by the front door (bounded and counted), not by Pingora's listener.
    let tls = c
        .server
        .tls
        .is_some()
        .then(|| Arc::new(crate::tls::Acceptors::new(&shared)));
    let app = ConnectionApp {
        proxy: Arc::new(proxy),
        shared: Arc::clone(&shared),
        door: Door::Public,
        tls,
        h2c: c.server.h2c,
    };
    let mut public = ListeningService::new("rampart".to_string(), app);
    let endpoint = ListenerConfig::tcp(listen_addr.to_string()).l4_buffer(L4BufferSettings {
        read: Some(DOWNSTREAM_READ_BUFFER),
        write: None,
    });
    public.add_listener(endpoint);
    server.add_service(Prebound::new(public, listen_addr, listen_fd));

    let mut admin = ListeningService::new(
        "rampart-admin".to_string(),
        // The admin endpoints behind the same front door: head deadline, limits, a cap.
        ConnectionApp {
            proxy: Arc::new(AdminApp {
                shared: Arc::clone(&shared),
            }),
            shared: Arc::clone(&shared),
            door: Door::Admin,
            tls: None,
            h2c: false,
        },
    );
    admin.add_tcp(&admin_addr.to_string());
    // Two: a reload compiles on the admin thread, and /livez must still answer meanwhile.
    admin.threads = Some(2);
    server.add_service(Prebound::new(admin, admin_addr, admin_fd));

    let triggers = ReloadTriggers {
        shared: Arc::clone(&shared),
    };
    server.add_service(pingora::services::background::background_service(
        "reload-triggers",
        triggers,
    ));

    let upkeep = Housekeeping {
        shared: Arc::clone(&shared),
    };
    server.add_service(pingora::services::background::background_service(
        "housekeeping",
        upkeep,
    ));

    Ok(Rampart {
        server,
        shared,
        listen_addr,
        admin_addr,
        grace_period: c.server.grace_period.0,
    })
}

/// Every listening socket is bound here, before the start line: a port that cannot be bound
/// fails the start (SPEC §1) instead of a service failing later, the caller learns the real
/// port (port 0), and nothing connects to a port that is not listening yet. Pingora takes
/// the sockets through its fd table. With `--upgrade` the sockets come from the running
/// process instead (binding would fail: it is still listening).
fn bind(
    field: &'static str,
    addr: &str,
    upgrade: bool,
) -> Result<(SocketAddr, Option<RawFd>), BuildError> {
    let fail = |source: std::io::Error| BuildError::Bind {
        field,
        addr: addr.to_string(),
        source,
    };
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|e| fail(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    if upgrade && parsed.port() != 0 {
        return Ok((parsed, None));
    }
    let listener = TcpListener::bind(parsed).map_err(fail)?;
    // Pingora's backlog (the kernel caps it at somaxconn); std's default is 128.
    socket2::SockRef::from(&listener)
        .listen(LISTEN_BACKLOG)
        .map_err(fail)?;
    let bound = listener.local_addr().map_err(fail)?;
    listener.set_nonblocking(true).map_err(fail)?;
    Ok((bound, Some(listener.into_raw_fd())))
}

/// Puts a socket bound in `build` into Pingora's fd table before the service starts.
struct Prebound<S> {
    inner: S,
    addr: String,
    fd: Option<RawFd>,
}

impl<S> Prebound<S> {
    fn new(inner: S, addr: SocketAddr, fd: Option<RawFd>) -> Self {
        Prebound {
            inner,
            addr: addr.to_string(),
            fd,
        }
    }
}

#[async_trait]
impl<S: Service> Service for Prebound<S> {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        if let (Some(table), Some(fd)) = (&fds, self.fd.take()) {
            table.lock().add(self.addr.clone(), fd);
        }
        self.inner
            .start_service(fds, shutdown, listeners_per_fd)
            .await
    }

    fn name(&self) -> &str {
        self.inner.name()
    }

    fn threads(&self) -> Option<usize> {
        self.inner.threads()
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        self.inner.listen_addresses()
    }
}
