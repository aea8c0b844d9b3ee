//! The host side of the guest-agent protocol. The guest is not trusted:
//! every frame is size-capped, output beyond the cap the host asked for is
//! dropped, and an agent that keeps sending past it is cut off.

use std::io::{Read, Write};

use crate::error::MicrovmError;
use crate::protocol::{self, CHUNK, ExecFrame, ExitFrame, Frame, VERSIONS};

/// What one guest session returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestOutcome {
    /// The protocol version agreed on.
    pub version: u32,
    pub exit: ExitFrame,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `exec` through the agent at the other end of `stream`. The caller
/// bounds the session in time (socket timeouts on a real connection).
pub fn run_in_guest<S: Read + Write>(
    stream: &mut S,
    exec: &ExecFrame,
    max_frame: u32,
) -> Result<GuestOutcome, MicrovmError> {
    protocol::write_frame(
        stream,
        &Frame::Hello {
            versions: VERSIONS.to_vec(),
        },
        max_frame,
    )?;
    let version = match next(stream, max_frame, "welcome")? {
        Frame::Welcome { version } if VERSIONS.contains(&version) => version,
        Frame::Welcome { version } => {
            return Err(MicrovmError::Version {
                ours: VERSIONS.to_vec(),
                theirs: vec![version],
            });
        }
        other => return Err(unexpected("welcome", &other)),
    };
    protocol::write_frame(stream, &Frame::Exec(exec.clone()), max_frame)?;
    let cap = usize::try_from(exec.limits.output_bytes).unwrap_or(usize::MAX);
    // A well-behaved agent stops at the cap; allow one chunk of slack.
    let cutoff = cap.saturating_add(CHUNK);
    let mut out = [Vec::new(), Vec::new()];
    let mut received = [0usize; 2];
    loop {
        let (i, data) = match next(stream, max_frame, "output or exit")? {
            Frame::Stdout { data } => (0, data.0),
            Frame::Stderr { data } => (1, data.0),
            Frame::Exit(mut exit) => {
                exit.stdout_truncated |= received[0] > cap;
                exit.stderr_truncated |= received[1] > cap;
                let [stdout, stderr] = out;
                return Ok(GuestOutcome {
                    version,
                    exit,
                    stdout,
                    stderr,
                });
            }
            other => return Err(unexpected("output or exit", &other)),
        };
        received[i] = received[i].saturating_add(data.len());
        if received[i] > cutoff {
            return Err(MicrovmError::Remote(format!(
                "the agent sent more than the {cap}-byte output cap"
            )));
        }
        let room = cap.saturating_sub(out[i].len());
        out[i].extend_from_slice(&data[..data.len().min(room)]);
    }
}

/// The next frame; an `Error` frame becomes [`MicrovmError::Remote`].
fn next<S: Read>(stream: &mut S, max: u32, expected: &'static str) -> Result<Frame, MicrovmError> {
    match protocol::read_frame(stream, max)? {
        Some(Frame::Error { message }) => Err(MicrovmError::Remote(message)),
        Some(frame) => Ok(frame),
        None => Err(MicrovmError::Unexpected {
            expected,
            got: "end of stream".into(),
        }),
    }
}

fn unexpected(expected: &'static str, got: &Frame) -> MicrovmError {
    MicrovmError::Unexpected {
        expected,
        got: got.kind().into(),
    }
}
