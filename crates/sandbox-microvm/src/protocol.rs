//! The host ↔ guest-agent protocol: length-prefixed JSON frames.
//!
//! On the wire a frame is a 4-byte big-endian length, then that many bytes
//! of JSON. A reader checks the length against its cap *before* allocating,
//! so a hostile peer cannot make it allocate more than the cap.
//!
//! A session is one command:
//! 1. host → `Hello { versions }`; agent → `Welcome { version }` (the highest
//!    version both speak) or `Error` and close;
//! 2. host → `Exec { argv, env, cwd, stdin, limits }`;
//! 3. agent → any number of `Stdout`/`Stderr` chunks, then one `Exit`.

use std::io::{self, Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bureau_sandbox::{ExitStatus, LimitKind, Limits};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::MicrovmError;

/// Protocol versions this build speaks, oldest first.
pub const VERSIONS: &[u32] = &[1];
/// Default cap on one frame, both ways.
pub const DEFAULT_MAX_FRAME: u32 = 4 << 20;
/// Output chunk size the agent sends (well under any sane frame cap once
/// base64-encoded).
pub const CHUNK: usize = 32 * 1024;

/// Bytes, carried as base64 in JSON.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text)
            .map(Bytes)
            .map_err(serde::de::Error::custom)
    }
}

/// The command to run, host → agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecFrame {
    pub argv: Vec<String>,
    /// The whole environment of the command.
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub stdin: Bytes,
    /// The agent enforces `wall_time` and `output_bytes`; the VM's size
    /// bounds memory and CPUs.
    pub limits: Limits,
}

/// How the command ended, agent → host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitFrame {
    pub status: ExitStatus,
    pub limits_hit: Vec<LimitKind>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub wall_time_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Frame {
    Hello { versions: Vec<u32> },
    Welcome { version: u32 },
    Exec(ExecFrame),
    Stdout { data: Bytes },
    Stderr { data: Bytes },
    Exit(ExitFrame),
    Error { message: String },
}

impl Frame {
    /// The frame's type, for error messages (never its payload).
    pub fn kind(&self) -> &'static str {
        match self {
            Frame::Hello { .. } => "hello",
            Frame::Welcome { .. } => "welcome",
            Frame::Exec(_) => "exec",
            Frame::Stdout { .. } => "stdout",
            Frame::Stderr { .. } => "stderr",
            Frame::Exit(_) => "exit",
            Frame::Error { .. } => "error",
        }
    }
}

/// Writes one frame; refuses (without writing) one over `max`.
pub fn write_frame(w: &mut impl Write, frame: &Frame, max: u32) -> Result<(), MicrovmError> {
    let body = serde_json::to_vec(frame).map_err(|e| MicrovmError::Frame(e.to_string()))?;
    let len = u32::try_from(body.len()).ok().filter(|&l| l <= max).ok_or(
        MicrovmError::FrameTooLarge {
            len: body.len() as u64,
            max,
        },
    )?;
    w.write_all(&len.to_be_bytes())
        .and_then(|()| w.write_all(&body))
        .and_then(|()| w.flush())
        .map_err(MicrovmError::io("write a frame"))
}

/// Reads one frame. `Ok(None)`: the peer closed cleanly between frames.
pub fn read_frame(r: &mut impl Read, max: u32) -> Result<Option<Frame>, MicrovmError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < len.len() {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(MicrovmError::Frame(
                    "stream ended inside a frame length".into(),
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(MicrovmError::Io {
                    context: "read a frame length",
                    source: e,
                });
            }
        }
    }
    let len = u32::from_be_bytes(len);
    if len > max {
        return Err(MicrovmError::FrameTooLarge {
            len: u64::from(len),
            max,
        });
    }
    let mut body = Vec::new();
    r.take(u64::from(len))
        .read_to_end(&mut body)
        .map_err(MicrovmError::io("read a frame body"))?;
    if body.len() != len as usize {
        return Err(MicrovmError::Frame(format!(
            "stream ended after {} of {len} frame bytes",
            body.len()
        )));
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| MicrovmError::Frame(e.to_string()))
}

/// The highest version in both lists.
pub fn negotiate(ours: &[u32], theirs: &[u32]) -> Option<u32> {
    ours.iter().filter(|v| theirs.contains(v)).max().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_with_binary_bytes() {
        let frame = Frame::Stdout {
            data: Bytes(vec![0, 255, 10, 13]),
        };
        let mut wire = Vec::new();
        write_frame(&mut wire, &frame, DEFAULT_MAX_FRAME).unwrap();
        assert_eq!(&wire[4..], br#"{"type":"stdout","data":"AP8KDQ=="}"#);
        let back = read_frame(&mut &wire[..], DEFAULT_MAX_FRAME).unwrap();
        assert_eq!(back, Some(frame));
        assert_eq!(read_frame(&mut &b""[..], 16).unwrap(), None);
    }

    #[test]
    fn oversized_truncated_and_garbage_frames_are_errors() {
        // A length of 2^32-1 must be refused before any allocation.
        let huge = [0xff, 0xff, 0xff, 0xff, b'{'];
        assert!(matches!(
            read_frame(&mut &huge[..], DEFAULT_MAX_FRAME),
            Err(MicrovmError::FrameTooLarge {
                len: 4_294_967_295,
                ..
            })
        ));
        let short = [0, 0, 0, 10, b'{'];
        assert!(matches!(
            read_frame(&mut &short[..], 64),
            Err(MicrovmError::Frame(_))
        ));
        let junk = [0, 0, 0, 3, b'a', b'b', b'c'];
        assert!(matches!(
            read_frame(&mut &junk[..], 64),
            Err(MicrovmError::Frame(_))
        ));
        let unknown = br#"{"type":"launch_missiles"}"#;
        let mut wire = (unknown.len() as u32).to_be_bytes().to_vec();
        wire.extend_from_slice(unknown);
        assert!(matches!(
            read_frame(&mut &wire[..], 64),
            Err(MicrovmError::Frame(_))
        ));
        let big = Frame::Error {
            message: "x".repeat(100),
        };
        let mut out = Vec::new();
        assert!(matches!(
            write_frame(&mut out, &big, 50),
            Err(MicrovmError::FrameTooLarge { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn negotiation_picks_the_highest_common_version() {
        assert_eq!(negotiate(&[1, 2, 3], &[2, 3, 9]), Some(3));
        assert_eq!(negotiate(&[1], &[2]), None);
    }
}
