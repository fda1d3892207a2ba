//! What the client is told when proxying fails: Pingora's error kinds mapped to SPEC §5.

use crate::reject::{Code, Reject};
use pingora::{Error, ErrorSource, ErrorType};

/// Maps a Pingora failure to what the client is told.
pub fn classify(e: &Error) -> Option<Reject> {
    use ErrorType::*;
    let reject = match e.etype() {
        ConnectTimedout | ReadTimedout | WriteTimedout | TLSHandshakeTimedout
            if e.esource() == &ErrorSource::Upstream =>
        {
            Reject::new(Code::UpstreamTimeout, "the app did not answer in time")
        }
        HTTPStatus(code) => match *code {
            400 => Reject::new(Code::BadRequest, "malformed request"),
            413 => Reject::new(Code::BodyTooLarge, "request body too large"),
            code if code >= 500 => {
                Reject::new(Code::UpstreamUnavailable, "the app could not be reached")
                    .with_status(code)
            }
            code => Reject::new(Code::BadRequest, "request refused").with_status(code),
        },
        // The app's response could not be parsed (SPEC §5: a malformed response).
        InvalidHTTPHeader if e.esource() == &ErrorSource::Upstream => {
            Reject::new(Code::BadGateway, "the app's response is malformed")
        }
        _ => match e.esource() {
            ErrorSource::Upstream => {
                Reject::new(Code::UpstreamUnavailable, "the app could not be reached")
            }
            ErrorSource::Downstream => match e.etype() {
                // The client went away: nobody to answer.
                ReadError | WriteError | ConnectionClosed => return None,
                ReadTimedout => {
                    Reject::new(Code::RequestTimeout, "request body not received in time")
                }
                _ => Reject::new(Code::BadRequest, "malformed request"),
            },
            ErrorSource::Internal | ErrorSource::Unset => {
                Reject::new(Code::Internal, "internal error")
            }
        },
    };
    Some(reject)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_map_to_spec_codes() {
        let up = |t| {
            let mut e = Error::new(t);
            e.as_up();
            e
        };
        let down = |t| {
            let mut e = Error::new(t);
            e.as_down();
            e
        };
        let code = |e: &Error| classify(e).map(|r| (r.code, r.status));
        assert_eq!(
            code(&up(ErrorType::ConnectRefused)),
            Some((Code::UpstreamUnavailable, 502))
        );
        assert_eq!(
            code(&up(ErrorType::ConnectTimedout)),
            Some((Code::UpstreamTimeout, 504))
        );
        assert_eq!(
            code(&up(ErrorType::ReadTimedout)),
            Some((Code::UpstreamTimeout, 504))
        );
        assert_eq!(
            code(&up(ErrorType::ConnectionClosed)),
            Some((Code::UpstreamUnavailable, 502))
        );
        assert_eq!(code(&down(ErrorType::ConnectionClosed)), None);
        assert_eq!(
            code(&up(ErrorType::InvalidHTTPHeader)),
            Some((Code::BadGateway, 502))
        );
        assert_eq!(
            code(&down(ErrorType::InvalidHTTPHeader)),
            Some((Code::BadRequest, 400))
        );
        assert_eq!(
            code(&Error::new(ErrorType::InternalError)),
            Some((Code::Internal, 500))
        );
    }
}
