//! Host-initiated vsock connections through Firecracker's Unix socket.
//!
//! The host connects to the `uds_path` given in `PUT /vsock`, writes
//! `CONNECT <port>\n`, and Firecracker answers `OK <host_port>\n` once the
//! guest accepted on that AF_VSOCK port; from then on the socket carries the
//! guest connection's bytes. Firecracker closes the socket if nothing
//! listens on the port.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::error::MicrovmError;

/// Longest reply line we accept (`OK 4294967295\n` is 14 bytes).
const MAX_REPLY: usize = 32;

/// The request line for `port`.
pub fn connect_line(port: u32) -> String {
    format!("CONNECT {port}\n")
}

/// Parses Firecracker's reply line (with its `\n`): the host-side port.
pub fn parse_connect_reply(line: &[u8]) -> Result<u32, MicrovmError> {
    let bad = || {
        MicrovmError::Vsock(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(line)
        ))
    };
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let text = text.strip_suffix('\n').ok_or_else(bad)?;
    let port = text.strip_prefix("OK ").ok_or_else(bad)?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    port.parse().map_err(|_| bad())
}

/// Reads the reply one byte at a time so that no byte of the guest's
/// stream after the `\n` is consumed.
pub fn read_connect_reply(stream: &mut impl Read) -> Result<u32, MicrovmError> {
    let mut line = Vec::with_capacity(MAX_REPLY);
    let mut byte = [0u8; 1];
    while line.len() < MAX_REPLY {
        let n = match stream.read(&mut byte) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Firecracker drops a connection to a port nothing listens on.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => 0,
            Err(source) => {
                return Err(MicrovmError::Io {
                    context: "read the vsock CONNECT reply",
                    source,
                });
            }
        };
        if n == 0 {
            return Err(MicrovmError::Vsock(
                "connection closed before OK (nothing listens on that port yet)".into(),
            ));
        }
        line.push(byte[0]);
        if byte[0] == b'\n' {
            return parse_connect_reply(&line);
        }
    }
    Err(MicrovmError::Vsock(format!(
        "reply longer than {MAX_REPLY} bytes"
    )))
}

/// Connects to guest `port` through Firecracker's vsock socket.
pub fn connect(uds_path: &Path, port: u32, timeout: Duration) -> Result<UnixStream, MicrovmError> {
    let mut stream =
        UnixStream::connect(uds_path).map_err(MicrovmError::io("connect to the vsock socket"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(MicrovmError::io("set vsock socket timeouts"))?;
    stream
        .write_all(connect_line(port).as_bytes())
        .map_err(MicrovmError::io("send the vsock CONNECT line"))?;
    read_connect_reply(&mut stream)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_replies_parse_strictly() {
        assert_eq!(connect_line(52), "CONNECT 52\n");
        assert_eq!(
            parse_connect_reply(b"OK 1073741824\n").unwrap(),
            1_073_741_824
        );
        for bad in [
            &b"OK 12"[..],
            b"OK\n",
            b"OK -1\n",
            b"OK 99999999999\n",
            b"ok 5\n",
            b"NOPE 5\n",
            b"OK 5 6\n",
            b"\xff\xfe\n",
        ] {
            assert!(
                matches!(parse_connect_reply(bad), Err(MicrovmError::Vsock(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reply_reading_stops_at_the_newline_and_bounds_the_line() {
        let mut stream = &b"OK 7\nguest bytes"[..];
        assert_eq!(read_connect_reply(&mut stream).unwrap(), 7);
        assert_eq!(stream, b"guest bytes");
        let mut endless = &[b'9'; 100][..];
        assert!(read_connect_reply(&mut endless).is_err());
        let mut closed = &b""[..];
        assert!(read_connect_reply(&mut closed).is_err());
    }
}
