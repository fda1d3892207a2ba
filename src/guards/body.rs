//! Request body size: the declared length checked before any upstream connection, and
//! streamed (chunked) bodies counted as they arrive.

use crate::reject::{Code, Reject};

fn too_large(limit: u64) -> Reject {
    Reject::new(
        Code::BodyTooLarge,
        format!("request body larger than {limit} bytes"),
    )
}

/// A declared `Content-Length` over the route's limit is refused before connecting.
pub fn check_declared(length: u64, limit: u64) -> Result<(), Reject> {
    if length > limit {
        Err(too_large(limit))
    } else {
        Ok(())
    }
}

/// Counts body bytes as they stream through.
#[derive(Debug, Default, Clone, Copy)]
pub struct BodyCounter {
    pub seen: u64,
}

impl BodyCounter {
    /// Adds a chunk; fails once the total passes `limit` (the chunk that crosses it is not
    /// to be forwarded, so the app receives at most `limit` bytes).
    pub fn add(&mut self, chunk: usize, limit: u64) -> Result<(), Reject> {
        self.seen = self.seen.saturating_add(chunk as u64);
        if self.seen > limit {
            Err(too_large(limit))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_length() {
        assert!(check_declared(1024, 1024).is_ok());
        let r = check_declared(1025, 1024).unwrap_err();
        assert_eq!((r.code, r.status), (Code::BodyTooLarge, 413));
    }

    #[test]
    fn streamed_count_fails_on_the_crossing_chunk() {
        let mut c = BodyCounter::default();
        assert!(c.add(600, 1000).is_ok());
        assert!(c.add(400, 1000).is_ok());
        assert!(c.add(1, 1000).is_err());
        assert_eq!(c.seen, 1001);
    }
}
