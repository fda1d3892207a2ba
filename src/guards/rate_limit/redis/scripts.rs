//! The two Lua scripts Redis runs for rate limiting, and their replies as verdicts. Both use
//! Redis's clock (`TIME`, so replicas' clocks do not matter) and set each key to expire when
//! its bucket is full again, so Redis memory stays bounded without a sweep. Numbers are
//! formatted with %d because Lua would otherwise write a microsecond timestamp in exponent
//! notation, losing precision.

use super::super::{ceil_secs, Verdict};
use std::time::Duration;

/// `sharing: exact`: GCRA over several keys, atomically. KEYS: one per limit; ARGV: period
/// (µs) and burst per limit. Reply: `allowed` (1/0), then per limit `ok, a, b`: when ok,
/// remaining and µs to reset; when not, µs until it would allow.
pub const EXACT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {1}
local tats = {}
for i = 1, #KEYS do
  local period = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local new_tat = tat + period
  local over = new_tat - now - period * burst
  if over > 0 then
    out[1] = 0
    table.insert(out, 0); table.insert(out, over); table.insert(out, 0)
  else
    tats[i] = new_tat
    table.insert(out, 1); table.insert(out, math.floor(-over / period))
    table.insert(out, new_tat - now)
  end
end
if out[1] == 1 then
  for i = 1, #KEYS do
    redis.call('SET', KEYS[i], string.format('%d', tats[i]),
      'PX', math.ceil((tats[i] - now) / 1000))
  end
end
return out
";

/// `sharing: leased`: one key. ARGV: period (µs), burst, how many to take (`want`), how many
/// unspent ones of an earlier lease to give back first. Grants as many as the bucket holds,
/// up to `want` (possibly 0). Reply: granted, then when granted > 0 the remaining capacity,
/// else the µs until one request's allowance is back.
pub const LEASE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local period = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local back = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
tat = tat - back * period
if tat < now then tat = now end
local room = math.floor((now + period * burst - tat) / period)
local grant = math.min(want, room)
if grant < 1 then
  grant = 0
else
  tat = tat + grant * period
end
if tat > now then
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000))
else
  redis.call('DEL', KEYS[1])
end
if grant > 0 then return {grant, room - grant} end
return {0, tat + period - now - period * burst}
";

/// The exact script's reply as one verdict per limit.
pub fn parse_exact(reply: &[i64], limits: usize) -> Option<Vec<Verdict>> {
    if reply.len() != 1 + 3 * limits {
        return None;
    }
    let verdicts = reply[1..]
        .chunks_exact(3)
        .map(|c| match c[0] {
            1 => Verdict::Allowed {
                remaining: u32::try_from(c[1].max(0)).unwrap_or(u32::MAX),
                reset_secs: ceil_secs(micros(c[2])),
            },
            _ => Verdict::Limited {
                retry_after_secs: ceil_secs(micros(c[1])).max(1),
            },
        })
        .collect();
    Some(verdicts)
}

/// What a lease request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// `granted` requests to spend locally; `left` is what the shared bucket still holds.
    Some { granted: u32, left: u32 },
    /// Nothing: the bucket is empty for `wait`.
    None { wait: Duration },
}

/// The lease script's reply.
pub fn parse_lease(reply: &[i64]) -> Option<Grant> {
    match *reply {
        [granted, left] if granted > 0 => Some(Grant::Some {
            granted: u32::try_from(granted).ok()?,
            left: u32::try_from(left.max(0)).unwrap_or(u32::MAX),
        }),
        [0, wait] => Some(Grant::None { wait: micros(wait) }),
        _ => None,
    }
}

fn micros(n: i64) -> Duration {
    Duration::from_micros(u64::try_from(n.max(0)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_replies_become_verdicts() {
        let v = parse_exact(&[1, 1, 4, 2_500_000, 1, 0, 60_000_000], 2).unwrap();
        assert_eq!(
            v,
            vec![
                Verdict::Allowed {
                    remaining: 4,
                    reset_secs: 3
                },
                Verdict::Allowed {
                    remaining: 0,
                    reset_secs: 60
                },
            ]
        );
        let v = parse_exact(&[0, 1, 2, 1, 0, 1_000_001, 0], 2).unwrap();
        assert_eq!(
            v[1],
            Verdict::Limited {
                retry_after_secs: 2
            }
        );
        // Never "retry after 0 s".
        let v = parse_exact(&[0, 0, 0, 0], 1).unwrap();
        assert_eq!(
            v[0],
            Verdict::Limited {
                retry_after_secs: 1
            }
        );
        assert!(parse_exact(&[1, 1, 2], 1).is_none());
    }

    #[test]
    fn lease_replies_become_grants() {
        assert_eq!(
            parse_lease(&[5, 3]),
            Some(Grant::Some {
                granted: 5,
                left: 3
            })
        );
        assert_eq!(
            parse_lease(&[0, 250_000]),
            Some(Grant::None {
                wait: Duration::from_millis(250)
            })
        );
        assert_eq!(
            parse_lease(&[0, -5]),
            Some(Grant::None {
                wait: Duration::ZERO
            })
        );
        assert_eq!(parse_lease(&[-1, 0]), None);
        assert_eq!(parse_lease(&[1]), None);
    }
}
