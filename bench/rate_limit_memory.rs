//! Memory of the rate limiter's key table: RSS with N distinct client addresses tracked,
//! then after they went idle and were evicted. `bench/run memory` runs it.
//! Usage: rate_limit_memory [KEYS] (default 1,000,000)

use rampart::config::model::RateKey;
use rampart::config::units::parse_rate;
use rampart::guards::rate_limit::RouteLimit;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn main() {
    let keys: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rate = parse_rate("1000/second").unwrap_or_else(|e| panic!("{e}"));
    let clock = governor::clock::DefaultClock::default();
    let limit =
        RouteLimit::new(rate, None, RateKey::ClientIp, keys as usize + 1, clock).expect("quota");
    let baseline = rss_mib();
    let started = Instant::now();
    for i in 0..keys {
        // Distinct IPv4 client addresses, one request each.
        limit.check(limit.ip_key(std::net::IpAddr::from((0x0A00_0000u32 + i).to_be_bytes())));
    }
    let filled = rss_mib();
    let insert = started.elapsed();
    // With 1000/second a bucket is full again 1 ms after its request: every key is idle.
    std::thread::sleep(Duration::from_millis(1500));
    limit.evict_idle();
    rampart::lifecycle::housekeeping::return_free_memory();
    let evicted = rss_mib();
    println!("| keys | RSS before | RSS with keys | per key | after eviction | keys left | insert time |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {keys} | {baseline:.1} MiB | {filled:.1} MiB | {:.0} B | {evicted:.1} MiB | {} | {:.0} ns/key |",
        (filled - baseline) * 1024.0 * 1024.0 / f64::from(keys),
        limit.tracked_keys(),
        insert.as_nanos() as f64 / f64::from(keys)
    );
}
