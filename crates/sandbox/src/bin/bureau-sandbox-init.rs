//! The native sandbox's launcher: reads one exec spec on stdin, runs it in
//! fresh namespaces and writes the outcome on stdout. Spawned by
//! `bureau_sandbox::native::NativeSandbox`; not meant to be run by hand.

fn main() -> std::process::ExitCode {
    bureau_sandbox::native::launcher_main()
}
