//! The warm pool's path (`WarmPool::run_python`) behind the [`Sandbox`]
//! trait, so the attack suite can run against it too: each exec starts a
//! pool of one with the request's grant and environment, hands it the
//! probe as code, and drops the pool.

use std::time::Duration;

use bureau_sandbox::native::{NativeSandbox, WarmPool, WarmPoolConfig};
use bureau_sandbox::{Backend, ExecOutcome, ExecRequest, Sandbox, SandboxError};

pub struct WarmPoolSandbox {
    pub native: NativeSandbox,
}

/// The Python code that runs `argv` the way `python3 -c CODE NAME` or
/// `/bin/sh -c SCRIPT` would.
fn code_for(argv: &[String]) -> Result<String, SandboxError> {
    match argv {
        [py, c, code, name] if py == "python3" && c == "-c" => {
            Ok(format!("import sys\nsys.argv = ['-c', {name:?}]\n{code}"))
        }
        [sh, c, script] if sh == "/bin/sh" && c == "-c" => Ok(format!(
            "import os, sys\nsys.stdout.flush()\nos.execv('/bin/sh', ['/bin/sh', '-c', {script:?}])\n"
        )),
        _ => Err(SandboxError::InvalidRequest(format!(
            "the warm adapter runs only `python3 -c` and `/bin/sh -c`, not {argv:?}"
        ))),
    }
}

impl Sandbox for WarmPoolSandbox {
    fn backend(&self) -> Backend {
        Backend::Native
    }

    fn exec(&self, request: &ExecRequest) -> Result<ExecOutcome, SandboxError> {
        let code = code_for(&request.argv)?;
        let pool = WarmPool::new(
            self.native.clone(),
            WarmPoolConfig {
                size: 1,
                imports: Vec::new(),
                grant: request.grant.clone(),
                env: request.env.clone(),
                ready_timeout: Duration::from_secs(60),
            },
        )?;
        let done = pool.run_python(&code, request.workspace.clone())?;
        Ok(done.outcome)
    }
}
