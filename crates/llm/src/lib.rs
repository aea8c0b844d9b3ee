//! Model clients: OpenAI-compatible, Anthropic Messages, and a scripted offline model.
