//! The agent loop as a state machine, with guardrails and a journal.
