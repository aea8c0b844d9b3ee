//! A minimal HTTP/1.1 client over a Unix socket, enough for Firecracker's
//! API: one request per connection (`Connection: close`), JSON bodies,
//! `Content-Length` framing, bounded headers and body.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::error::MicrovmError;

/// Largest response head we read.
const MAX_HEAD: usize = 16 * 1024;
/// Largest response body we read (Firecracker's are small JSON documents).
const MAX_BODY: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

pub(crate) fn request(
    socket: &Path,
    timeout: Duration,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Response, MicrovmError> {
    let stream = UnixStream::connect(socket)
        .map_err(MicrovmError::io("connect to the firecracker API socket"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(MicrovmError::io("set API socket timeouts"))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\nConnection: close\r\n"
    );
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut writer = &stream;
    writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.write_all(body.unwrap_or_default()))
        .and_then(|()| writer.flush())
        .map_err(MicrovmError::io("send the API request"))?;
    read_response(&stream)
}

/// Reads one response: status line, headers, then a `Content-Length` body
/// (or the rest of the stream when there is none, as `Connection: close`
/// allows).
pub(crate) fn read_response(stream: impl Read) -> Result<Response, MicrovmError> {
    let mut reader = BufReader::new(stream.take((MAX_HEAD + MAX_BODY) as u64 + 1));
    let mut head_bytes = 0usize;
    let mut line = String::new();
    let mut read_line = |line: &mut String| -> Result<(), MicrovmError> {
        line.clear();
        let n = reader
            .read_line(line)
            .map_err(MicrovmError::io("read the API response"))?;
        head_bytes += n;
        if n == 0 {
            return Err(MicrovmError::Http(
                "connection closed before the response head ended".into(),
            ));
        }
        if head_bytes > MAX_HEAD {
            return Err(MicrovmError::Http(format!(
                "response head over {MAX_HEAD} bytes"
            )));
        }
        Ok(())
    };
    read_line(&mut line)?;
    let status = parse_status_line(line.trim_end())?;
    let mut content_length = None;
    loop {
        read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(MicrovmError::Http(format!("bad header line {header:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let n: usize = value
                .parse()
                .map_err(|_| MicrovmError::Http(format!("bad Content-Length {value:?}")))?;
            if n > MAX_BODY {
                return Err(MicrovmError::Http(format!(
                    "body of {n} bytes is over {MAX_BODY}"
                )));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(MicrovmError::Http(format!(
                "unsupported Transfer-Encoding {value:?}"
            )));
        }
    }
    let mut body = Vec::new();
    match content_length {
        Some(n) => {
            body.resize(n, 0);
            reader
                .read_exact(&mut body)
                .map_err(MicrovmError::io("read the API response body"))?;
        }
        None if status == 204 || status == 304 || (100..200).contains(&status) => {}
        None => {
            reader
                .read_to_end(&mut body)
                .map_err(MicrovmError::io("read the API response body"))?;
            if body.len() > MAX_BODY {
                return Err(MicrovmError::Http(format!("body over {MAX_BODY} bytes")));
            }
        }
    }
    Ok(Response { status, body })
}

fn parse_status_line(line: &str) -> Result<u16, MicrovmError> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(MicrovmError::Http(format!("bad status line {line:?}")));
    }
    code.parse()
        .map_err(|_| MicrovmError::Http(format!("bad status code in {line:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_204_and_400_with_a_body() {
        let r = read_response(&b"HTTP/1.1 204 No Content\r\nServer: Firecracker API\r\n\r\n"[..])
            .unwrap();
        assert_eq!(
            r,
            Response {
                status: 204,
                body: vec![]
            }
        );
        let raw = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 23\r\n\r\n{\"fault_message\":\"no\"}\n";
        let r = read_response(&raw[..]).unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.body, b"{\"fault_message\":\"no\"}\n");
    }

    #[test]
    fn refuses_garbage_and_oversized_answers() {
        assert!(matches!(
            read_response(&b"SSH-2.0-x\r\n\r\n"[..]),
            Err(MicrovmError::Http(_))
        ));
        assert!(matches!(
            read_response(&b""[..]),
            Err(MicrovmError::Http(_))
        ));
        let huge = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n";
        assert!(matches!(
            read_response(&huge[..]),
            Err(MicrovmError::Http(_))
        ));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(
            read_response(&chunked[..]),
            Err(MicrovmError::Http(_))
        ));
        let long_head = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(
            read_response(long_head.as_bytes()),
            Err(MicrovmError::Http(_))
        ));
    }
}
