//! The floor for the benchmark: a bare Pingora pass-through with the same build and runtime
//! levers as Rampart (one worker, no work stealing, no compression module, one peer built
//! once, 8 KiB read buffer, mimalloc) and nothing else. `bench/bench.py --with-bare` runs it.
//! Usage: bare_pingora LISTEN_ADDR UPSTREAM_ADDR

use async_trait::async_trait;
use pingora::listeners::ListenerConfig;
use pingora::modules::http::HttpModules;
use pingora::prelude::*;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::configuration::{Opt, ServerConf};

#[cfg(not(feature = "alloc-count"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(feature = "alloc-count")]
#[global_allocator]
static GLOBAL: rampart::alloc_count::Counting = rampart::alloc_count::Counting;

struct Bare {
    peer: HttpPeer,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();
    fn new_ctx(&self) {}
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}
    async fn upstream_peer(&self, _s: &mut Session, _c: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(self.peer.clone()))
    }
}

fn main() {
    #[cfg(feature = "alloc-count")]
    rampart::alloc_count::report();
    let args: Vec<String> = std::env::args().collect();
    let (listen, upstream) = match (args.get(1), args.get(2)) {
        (Some(l), Some(u)) => (l.clone(), u.clone()),
        _ => {
            eprintln!("usage: bare_pingora LISTEN_ADDR UPSTREAM_ADDR");
            std::process::exit(2);
        }
    };
    let conf = ServerConf {
        threads: 1,
        work_stealing: false,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let peer = HttpPeer::new(upstream.as_str(), false, String::new());
    let mut service = pingora::proxy::http_proxy_service(&server.configuration, Bare { peer });
    service.add_listener(ListenerConfig::tcp(listen).l4_buffer(L4BufferSettings {
        read: Some(8 * 1024),
        write: None,
    }));
    server.add_service(service);
    server.run_forever();
}
