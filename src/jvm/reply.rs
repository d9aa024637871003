//! An attach reply: its first line is the JVM's status code, the rest the command's output.

use super::attach_error::AttachError;

/// The whole reply, status line checked and removed, decoded leniently (a thread name may hold any bytes).
/// Never panics; a valid UTF-8 reply is not copied.
pub fn decode(pid: u32, reply: Vec<u8>) -> Result<String, AttachError> {
    let mut text = match String::from_utf8(reply) {
        Ok(t) => t,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    let nl = text.find('\n');
    let code = text[..nl.unwrap_or(text.len())].trim().parse::<i32>();
    match code {
        Ok(0) => {
            text.drain(..nl.map_or(text.len(), |n| n + 1));
            Ok(text)
        }
        Ok(code) => Err(refused(
            pid,
            code,
            &text.as_bytes()[nl.map_or(text.len(), |n| n + 1)..],
        )),
        Err(_) => Err(not_a_reply(pid, text.as_bytes())),
    }
}

fn refused(pid: u32, code: i32, msg: &[u8]) -> AttachError {
    AttachError::Refused {
        pid,
        code,
        msg: String::from_utf8_lossy(msg)
            .trim()
            .chars()
            .take(500)
            .collect(),
    }
}

fn not_a_reply(pid: u32, head: &[u8]) -> AttachError {
    AttachError::Step {
        pid,
        step: "read reply",
        msg: format!(
            "not an attach reply: {:?}",
            String::from_utf8_lossy(head)
                .chars()
                .take(80)
                .collect::<String>()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_is_checked_and_removed() {
        assert_eq!(
            decode(7, b"0\nFull thread dump\n".to_vec()).unwrap(),
            "Full thread dump\n"
        );
        assert_eq!(decode(7, b"0".to_vec()).unwrap(), "");
        let e = decode(7, b"101\nProtocol mismatch\n".to_vec())
            .unwrap_err()
            .to_string();
        assert!(e.contains("code 101): Protocol mismatch"), "{e}");
        let e = decode(7, b"HTTP/1.1 200 OK\r\n".to_vec())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an attach reply"), "{e}");
    }
}
