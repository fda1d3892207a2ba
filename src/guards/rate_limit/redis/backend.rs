//! The connection to the store, whichever shape it has:
//! - one node (`url`): a connection manager that reconnects by itself;
//! - a Redis Cluster (`cluster`): one multiplexed connection per master, slots learned from
//!   the seeds and relearned on `MOVED`, `ASK` answered, the topology refreshed after a
//!   failover (the `redis` crate's cluster client);
//! - a master found through Sentinel (`sentinel`): the address is asked of the sentinels
//!   and asked again whenever the connection fails or the node answers `READONLY` (it was
//!   demoted by a failover). Until a master is known, calls fail at once (`on_error`).

use crate::config::model::RedisStore;
use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{AsyncConnectionConfig, IntoConnectionInfo, RedisError, RedisResult};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a failed sentinel lookup waits before the next.
const LOOKUP_RETRY: Duration = Duration::from_millis(250);
/// ...doubling while lookups keep failing, up to this.
const LOOKUP_RETRY_MAX: Duration = Duration::from_secs(5);
/// How long one lookup (sentinels, then the master) may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

pub enum Backend {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Arc<SentinelMaster>),
}

/// The master a sentinel named, and the signal that asks them again.
pub struct SentinelMaster {
    current: ArcSwapOption<MultiplexedConnection>,
    lookup: Notify,
}

impl Backend {
    /// Prepares the connection without waiting for it (made on first use, remade after
    /// failures). Must run inside the store's runtime: background tasks are spawned there.
    pub fn open(cfg: &RedisStore, timeout: Duration) -> Result<Backend, String> {
        let err = |e: RedisError| e.to_string();
        if let Some(url) = &cfg.url {
            let info = with_password(url.as_str(), cfg.password.as_deref()).map_err(err)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(timeout))
                .set_response_timeout(Some(timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_secs(1));
            let client = redis::Client::open(info).map_err(err)?;
            return client
                .get_connection_manager_lazy(config)
                .map(Backend::Node)
                .map_err(err);
        }
        if let Some(nodes) = &cfg.cluster {
            let mut builder =
                redis::cluster::ClusterClient::builder(nodes.iter().map(String::as_str))
                    .retries(2)
                    .min_retry_wait(10)
                    .max_retry_wait(100);
            if let Some(pw) = &cfg.password {
                builder = builder.password(pw.clone());
            }
            let client = builder.build().map_err(err)?;
            let config = redis::cluster::ClusterConfig::new()
                .set_connection_timeout(timeout)
                .set_response_timeout(timeout);
            return Ok(Backend::Cluster(
                client.get_pending_async_connection_with_config(config),
            ));
        }
        if let Some(s) = &cfg.sentinel {
            // One password for the sentinels and the master: `password`, or (without it)
            // the one in the sentinels' URLs.
            let sentinels = s
                .nodes
                .iter()
                .map(|url| with_password(url, cfg.password.as_deref()))
                .collect::<RedisResult<Vec<_>>>()
                .map_err(err)?;
            let shared = cfg.password.clone().or_else(|| {
                let first = sentinels.iter().find_map(|i| i.redis_settings().password());
                first.map(str::to_owned)
            });
            let mut node = redis::RedisConnectionInfo::default();
            if let Some(pw) = &shared {
                node = node.set_password(pw);
            }
            let info = SentinelNodeConnectionInfo::default().set_redis_connection_info(node);
            let client = SentinelClient::build(
                sentinels,
                s.master.as_str(),
                Some(info),
                SentinelServerType::Master,
            )
            .map_err(err)?;
            let master = Arc::new(SentinelMaster {
                current: ArcSwapOption::empty(),
                lookup: Notify::new(),
            });
            tokio::spawn(follow_master(client, Arc::downgrade(&master), timeout));
            master.lookup.notify_one();
            return Ok(Backend::Sentinel(master));
        }
        Err("needs one of url, cluster or sentinel".into())
    }

    /// The store did not answer in time: a sentinel-found master may be gone without a
    /// reset (a host down); ask the sentinels again.
    pub fn timed_out(&self) {
        if let Backend::Sentinel(master) = self {
            master.lookup.notify_one();
        }
    }

    /// Runs one script call on the store.
    pub async fn invoke(&self, call: &redis::ScriptInvocation<'_>) -> RedisResult<Vec<i64>> {
        match self {
            Backend::Node(manager) => call.invoke_async(&mut manager.clone()).await,
            Backend::Cluster(cluster) => call.invoke_async(&mut cluster.clone()).await,
            Backend::Sentinel(master) => {
                let Some(conn) = master.current.load_full() else {
                    master.lookup.notify_one();
                    return Err(no_master());
                };
                let result = call.invoke_async(&mut (*conn).clone()).await;
                if let Err(e) = &result {
                    // A broken connection, or a node that is no longer the master: ask again
                    // (once: a newer connection someone else put in place stays).
                    if e.is_io_error() || e.is_connection_dropped() || is_readonly(e) {
                        let gone = master.current.compare_and_swap(&Some(conn), None);
                        drop(gone);
                        master.lookup.notify_one();
                    }
                }
                result
            }
        }
    }
}

fn is_readonly(e: &RedisError) -> bool {
    e.code() == Some("READONLY")
}

fn no_master() -> RedisError {
    RedisError::from((
        redis::ErrorKind::Io,
        "no master known yet: the sentinels are being asked",
    ))
}

/// `url` with `password` set (when given).
fn with_password(url: &str, password: Option<&str>) -> RedisResult<redis::ConnectionInfo> {
    let info = url.into_connection_info()?;
    Ok(match password {
        Some(pw) => {
            let settings = info.redis_settings().clone().set_password(pw);
            info.set_redis_settings(settings)
        }
        None => info,
    })
}

/// Asks the sentinels for the master whenever a connection is wanted, until the store is
/// dropped (then the weak reference fails and the task ends).
async fn follow_master(
    mut client: SentinelClient,
    master: std::sync::Weak<SentinelMaster>,
    timeout: Duration,
) {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout));
    loop {
        let Some(waiting) = master.upgrade() else {
            return;
        };
        waiting.lookup.notified().await;
        drop(waiting);
        let mut retry = LOOKUP_RETRY;
        loop {
            let lookup = async {
                let c = client.async_get_client().await?;
                c.get_multiplexed_async_connection_with_config(&config)
                    .await
            };
            let found = tokio::time::timeout(LOOKUP_TIMEOUT, lookup)
                .await
                .unwrap_or_else(|_| Err(no_master()));
            let Some(master) = master.upgrade() else {
                return;
            };
            match found {
                Ok(conn) => {
                    master.current.store(Some(Arc::new(conn)));
                    break;
                }
                Err(e) => {
                    // Once per streak at WARN (a wrong password must not flood the log).
                    if retry == LOOKUP_RETRY {
                        tracing::warn!(error = %e, "rate-limit store: no master from the sentinels");
                    } else {
                        tracing::debug!(error = %e, "rate-limit store: no master from the sentinels");
                    }
                    tokio::time::sleep(retry).await;
                    retry = retry.saturating_mul(2).min(LOOKUP_RETRY_MAX);
                }
            }
        }
    }
}
