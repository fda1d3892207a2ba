//! The config's values written back in the file's own spellings (`10s`, `1MiB`, `60/minute`,
//! `header:X-Api-Key`): what `check --dump` prints reads back as the same config.

use super::model::{HeaderSetting, RateKey, RetryOn};
use super::units::{ByteSize, Cidr, ConfigDuration, Rate};
use serde::{Serialize, Serializer};

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(self.0))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const UNITS: [(u64, &str); 4] = [
            (1 << 40, "TiB"),
            (1 << 30, "GiB"),
            (1 << 20, "MiB"),
            (1 << 10, "KiB"),
        ];
        match UNITS
            .iter()
            .find(|(unit, _)| self.0 >= *unit && self.0 % unit == 0)
        {
            Some((unit, name)) => s.collect_str(&format_args!("{}{name}", self.0 / unit)),
            None => s.serialize_u64(self.0),
        }
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl Serialize for RetryOn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RetryOn::ConnectFailure => s.serialize_str("connect_failure"),
            RetryOn::Timeout => s.serialize_str("timeout"),
            RetryOn::Status(code) => s.serialize_u16(*code),
        }
    }
}

impl Serialize for RateKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RateKey::ClientIp => s.serialize_str("client_ip"),
            RateKey::Global => s.serialize_str("global"),
            RateKey::Header(name) => s.collect_str(&format_args!("header:{name}")),
            RateKey::Query(name) => s.collect_str(&format_args!("query:{name}")),
        }
    }
}

/// `null` sends no header; `Default` is skipped by its field (inherited).
impl Serialize for HeaderSetting {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HeaderSetting::Value(v) => s.serialize_str(v),
            HeaderSetting::Off | HeaderSetting::Default => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json<T: Serialize>(value: T) -> String {
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn sizes_and_durations_are_written_in_the_files_spellings() {
        assert_eq!(json(ByteSize(1 << 20)), "\"1MiB\"");
        assert_eq!(json(ByteSize(1500)), "1500");
        let ms = |n| ConfigDuration(std::time::Duration::from_millis(n));
        assert_eq!(json(ms(250)), "\"250ms\"");
        assert_eq!(json(ms(90_000)), "\"1m 30s\"");
        assert_eq!(
            json(RateKey::Header("X-Api-Key".into())),
            "\"header:X-Api-Key\""
        );
        assert_eq!(json(RetryOn::Status(503)), "503");
    }
}
