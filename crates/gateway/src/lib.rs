//! Bureau's built-in MCP server and single chokepoint for tool calls.
