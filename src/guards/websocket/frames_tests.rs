use super::*;

/// A frame as a peer would write it: `opcode`, `payload`, masked when `key` is given.
fn frame(opcode: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let mask = if key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => out.push(mask | n as u8),
        n if n <= 0xFFFF => {
            out.push(mask | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if let Some(k) = key {
        out.extend_from_slice(&k);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

/// Feeds `bytes` in pieces of `step`; the offsets at which the cursor stood at a boundary.
fn boundaries(mut cursor: FrameCursor, bytes: &[u8], step: usize) -> Vec<usize> {
    let mut at = vec![];
    for (i, piece) in bytes.chunks(step).enumerate() {
        cursor.advance(piece);
        if cursor.at_boundary() {
            at.push(i * step + piece.len());
        }
    }
    at
}

#[test]
fn boundaries_fall_between_frames_of_every_length_form_however_the_bytes_arrive() {
    let key = Some([1, 2, 3, 4]);
    let frames = [
        frame(0x1, b"hello", None),
        frame(0x2, &vec![7; 300], key),
        frame(0x2, &vec![9; 70_000], None),
        frame(0x9, b"", key),
    ];
    let mut bytes = vec![];
    let mut ends = vec![];
    for f in &frames {
        bytes.extend_from_slice(f);
        ends.push(bytes.len());
    }
    assert_eq!(boundaries(FrameCursor::frames(), &bytes, 1), ends);
    let by_seven = boundaries(FrameCursor::frames(), &bytes, 7);
    assert!(by_seven.iter().all(|b| ends.contains(b)), "{by_seven:?}");
    assert_eq!(
        boundaries(FrameCursor::frames(), &bytes, bytes.len()),
        vec![bytes.len()]
    );
}

#[test]
fn toward_the_client_frames_start_after_the_101_head() {
    let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
    let mut cursor = FrameCursor::after_head();
    assert!(!cursor.at_boundary());
    cursor.advance(&head[..head.len() - 1]);
    assert!(!cursor.at_boundary());
    let mut rest = head[head.len() - 1..].to_vec();
    rest.extend_from_slice(&frame(0x1, b"hi", None)[..3]);
    cursor.advance(&rest);
    assert!(!cursor.at_boundary(), "mid-frame after the head");
    cursor.advance(b"i");
    assert!(cursor.at_boundary());
    // "\r\r\n\r\n" still ends a head.
    let mut odd = FrameCursor::after_head();
    odd.advance(b"HTTP/1.1 101 x\r\r\n\r\n");
    assert!(odd.at_boundary());
}

#[test]
fn a_close_frame_is_noticed_so_none_is_sent_after_it() {
    let mut cursor = FrameCursor::frames();
    cursor.advance(&frame(0x1, b"x", None));
    assert!(!cursor.close_seen());
    cursor.advance(&frame(0x8, &[0x03, 0xE8], Some([9, 9, 9, 9])));
    assert!(cursor.close_seen());
}

#[test]
fn a_length_with_its_top_bit_set_stops_the_cursor_for_good() {
    let mut cursor = FrameCursor::frames();
    let mut bad = vec![0x82, 127];
    bad.extend_from_slice(&(1u64 << 63).to_be_bytes());
    cursor.advance(&bad);
    assert!(!cursor.at_boundary());
    cursor.advance(&frame(0x1, b"later", None));
    assert!(!cursor.at_boundary());
}

#[test]
fn the_going_away_frames_are_what_a_websocket_peer_reads_as_1001() {
    assert_eq!(
        CLIENT_GOING_AWAY,
        frame(0x8, &1001u16.to_be_bytes(), None)[..]
    );
    let key = [0x11, 0x22, 0x33, 0x44];
    assert_eq!(
        app_going_away(key).to_vec(),
        frame(0x8, &1001u16.to_be_bytes(), Some(key))
    );
    let mut cursor = FrameCursor::frames();
    cursor.advance(&app_going_away(key));
    assert!(cursor.at_boundary() && cursor.close_seen());
}
