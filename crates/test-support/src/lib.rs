//! Test helpers shared by Bureau's crates (dev-dependency only): where the
//! pinned real peers live (`scripts/setup-test-deps.sh`), a fake LLM server
//! speaking the OpenAI and Anthropic wire formats, and fixtures.

pub mod deps;
pub mod fake_llm;
pub mod postgres;
