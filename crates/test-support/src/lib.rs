//! Test helpers: a fake LLM server speaking OpenAI and Anthropic wire formats, fixtures.
