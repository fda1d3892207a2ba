//! Upload sniffing: the first bytes of a raw body, or of each file part of a
//! `multipart/form-data` body, must be one of the route's allowed file types. The name and
//! the declared type of a part are not believed (an `.exe` renamed `.csv` is still an exe).

use crate::config::model::UploadKind;
use crate::reject::{Code, Reject};
use bytes::Bytes;

/// What the bytes look like. Zip containers (xlsx, docx) and OLE2 files (xls, doc) cannot be
/// told apart by their first bytes: each family allows any of its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Zip,
    Ole2,
    Pdf,
    Png,
    Jpeg,
    Gif,
    Text,
    Other,
}

pub fn sniff(data: &[u8]) -> Sniffed {
    const OLE2: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    if data.starts_with(b"PK\x03\x04") || data.starts_with(b"PK\x05\x06") {
        Sniffed::Zip
    } else if data.starts_with(OLE2) {
        Sniffed::Ole2
    } else if data.starts_with(b"%PDF-") {
        Sniffed::Pdf
    } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
        Sniffed::Png
    } else if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Sniffed::Jpeg
    } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
        Sniffed::Gif
    } else if is_text(data) {
        Sniffed::Text
    } else {
        Sniffed::Other
    }
}

/// CSV / text: UTF-8 or Latin-1, so any byte but NUL and control bytes other than TAB, CR, LF.
fn is_text(data: &[u8]) -> bool {
    !data.is_empty()
        && data
            .iter()
            .all(|&b| b >= 0x20 && b != 0x7f || matches!(b, b'\t' | b'\r' | b'\n'))
}

fn allows(allowed: &[UploadKind], sniffed: Sniffed) -> bool {
    use UploadKind::*;
    allowed.iter().any(|k| match sniffed {
        Sniffed::Zip => matches!(k, Xlsx | Docx | Zip),
        Sniffed::Ole2 => matches!(k, Xls | Doc),
        Sniffed::Pdf => *k == Pdf,
        Sniffed::Png => *k == Png,
        Sniffed::Jpeg => *k == Jpeg,
        Sniffed::Gif => *k == Gif,
        Sniffed::Text => matches!(k, Csv | Txt),
        Sniffed::Other => false,
    })
}

fn refuse(what: &str) -> Reject {
    Reject::new(
        Code::UnsupportedMediaType,
        format!("{what} is not an allowed file type"),
    )
}

/// Checks a whole request body. `content_type` picks raw or multipart handling.
pub async fn check_upload(
    content_type: Option<&[u8]>,
    body: Bytes,
    allowed: &[UploadKind],
) -> Result<(), Reject> {
    let ct = content_type
        .and_then(|c| std::str::from_utf8(c).ok())
        .unwrap_or("");
    if !ct
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        return if allows(allowed, sniff(&body)) {
            Ok(())
        } else {
            Err(refuse("the request body"))
        };
    }
    let bad =
        |e: multer::Error| Reject::new(Code::BadRequest, format!("malformed multipart body ({e})"));
    let boundary = multer::parse_boundary(ct).map_err(bad)?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut any_file = false;
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.file_name().map(str::to_string);
        let data = field.bytes().await.map_err(bad)?;
        // Plain form fields (no filename) are not uploads.
        if let Some(name) = name {
            any_file = true;
            if !allows(allowed, sniff(&data)) {
                return Err(refuse(&format!("file part \"{name}\"")));
            }
        }
    }
    if !any_file {
        return Err(Reject::new(
            Code::UnsupportedMediaType,
            "no file part in the multipart body",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use UploadKind::*;

    #[test]
    fn magic_numbers() {
        assert_eq!(sniff(b"PK\x03\x04rest"), Sniffed::Zip);
        assert_eq!(
            sniff(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0]),
            Sniffed::Ole2
        );
        assert_eq!(sniff(b"%PDF-1.7"), Sniffed::Pdf);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nxx"), Sniffed::Png);
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Sniffed::Jpeg);
        assert_eq!(sniff(b"GIF89a.."), Sniffed::Gif);
        assert_eq!(sniff(b"a,b,c\r\n1,2,3\n"), Sniffed::Text);
        assert_eq!(
            sniff("caf\u{e9};\u{20ac}\n".as_bytes()),
            Sniffed::Text,
            "UTF-8"
        );
        assert_eq!(sniff(b"caf\xe9;1\n"), Sniffed::Text, "Latin-1");
        assert_eq!(
            sniff(b"MZ\x90\x00\x03"),
            Sniffed::Other,
            "a Windows executable"
        );
        assert_eq!(sniff(b"a,b\x00c"), Sniffed::Other);
        assert_eq!(sniff(b""), Sniffed::Other);
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn raw_bodies() {
        let allowed = [Xlsx, Csv];
        assert!(block_on(check_upload(
            Some(b"text/csv"),
            Bytes::from_static(b"a,b\n1,2\n"),
            &allowed
        ))
        .is_ok());
        assert!(block_on(check_upload(
            None,
            Bytes::from_static(b"PK\x03\x04xx"),
            &allowed
        ))
        .is_ok());
        let r = block_on(check_upload(
            Some(b"text/csv"),
            Bytes::from_static(b"MZ\x90\x00"),
            &allowed,
        ))
        .unwrap_err();
        assert_eq!((r.code, r.status), (Code::UnsupportedMediaType, 415));
        assert!(block_on(check_upload(
            None,
            Bytes::from_static(b"%PDF-1.4"),
            &allowed
        ))
        .is_err());
    }

    fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Bytes) {
        let mut body = Vec::new();
        for (name, file, data) in parts {
            body.extend_from_slice(b"--XyZ\r\n");
            match file {
                Some(f) => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes()),
                None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
            }
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XyZ--\r\n");
        (
            "multipart/form-data; boundary=XyZ".to_string(),
            Bytes::from(body),
        )
    }

    #[test]
    fn multipart_file_parts_are_sniffed() {
        let allowed = [Csv, Png];
        let (ct, body) = multipart(&[
            ("note", None, b"\x00binary form field is fine"),
            ("data", Some("a.csv"), b"x,y\n1,2\n"),
        ]);
        assert!(block_on(check_upload(Some(ct.as_bytes()), body, &allowed)).is_ok());
        let (ct, body) = multipart(&[
            ("data", Some("a.csv"), b"x,y\n"),
            ("evil", Some("report.csv"), b"MZ\x90\x00\x03"),
        ]);
        let r = block_on(check_upload(Some(ct.as_bytes()), body, &allowed)).unwrap_err();
        assert_eq!(r.code, Code::UnsupportedMediaType);
        assert!(r.detail.contains("report.csv"));
        let r = block_on(check_upload(
            Some(b"multipart/form-data; boundary=XyZ"),
            Bytes::from_static(b"garbage"),
            &allowed,
        ))
        .unwrap_err();
        assert_eq!(r.code, Code::BadRequest);
    }

    #[test]
    fn each_kind_allows_only_its_own_content() {
        assert!(allows(&[Pdf], Sniffed::Pdf));
        assert!(!allows(&[Pdf], Sniffed::Png));
        assert!(allows(&[Png], Sniffed::Png));
        assert!(!allows(&[Png], Sniffed::Jpeg));
        assert!(allows(&[Jpeg], Sniffed::Jpeg));
        assert!(!allows(&[Jpeg], Sniffed::Gif));
        assert!(allows(&[Gif], Sniffed::Gif));
        assert!(!allows(&[Gif], Sniffed::Pdf));
        assert!(allows(&[Xlsx], Sniffed::Zip) && allows(&[Doc], Sniffed::Ole2));
        assert!(allows(&[Csv], Sniffed::Text) && !allows(&[Csv], Sniffed::Zip));
        assert!(!allows(&[Pdf, Png, Csv], Sniffed::Other));
    }
}
