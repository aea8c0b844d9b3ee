//! Bureau's MCP client: connections to MCP servers, qualified tool names, per-call timeouts.
