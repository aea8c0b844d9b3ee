//! A Firecracker-compatible microVM backend: one microVM per exec, the
//! command run by a guest agent reached over vsock.
//!
//! This crate owns the Firecracker API client ([`api`]: HTTP/1.1 over the
//! API Unix socket, typed requests, errors with Firecracker's
//! `fault_message`), the host side of Firecracker's vsock (`CONNECT <port>`
//! / `OK <port>`, [`vsock`]), the host ↔ agent frame protocol
//! ([`protocol`], [`host`]), the guest agent itself ([`agent`], built as the
//! `bureau-guest-agent` binary) and [`MicrovmSandbox`], which strings them
//! together behind the [`Sandbox`](bureau_sandbox::Sandbox) trait. It must
//! not decide whether a command may run, nor know about tools or MCP.
//!
//! **Untested on real KVM.** The host this was written on has PVM-based KVM
//! (no VMX/SVM; stock guest kernels hang) and no firecracker binary is
//! packaged in the registries it can reach, so no microVM has ever booted
//! under this code. What is tested: the API client against a fake API
//! server speaking Firecracker's wire format, the vsock handshake parser,
//! the agent and the protocol end to end over Unix socket pairs, and
//! [`MicrovmSandbox::new`] refusing with the exact missing pieces. To run
//! it for real you need: a `firecracker` binary (v1.x), an uncompressed
//! guest kernel with `CONFIG_VIRTIO_VSOCKETS=y`, an ext4 rootfs whose init
//! starts `bureau-guest-agent --vsock-port 52` (with `/workspace` and
//! `/tmp` present), and KVM with VMX or SVM (`kvm_intel`/`kvm_amd`).
//!
//! Limits in a microVM: memory and CPUs are the VM's size; the agent
//! enforces the wall clock and the output cap; the network is absent (no
//! interface is configured). Not yet: host workspaces and read-only paths
//! (Firecracker has no shared filesystem; a block device per workspace
//! would be needed), per-process rlimits, pids, peak memory and CPU time,
//! and Firecracker's `jailer` (chroot, cgroups and a dropped uid around the
//! VMM), which production use needs and which is not wired up.

pub mod agent;
pub mod api;
mod doctor;
mod error;
pub mod host;
mod http;
pub mod protocol;
mod sandbox;
pub mod vsock;

pub use doctor::{KvmKind, doctor};
pub use error::MicrovmError;
pub use sandbox::{MicrovmConfig, MicrovmSandbox};
