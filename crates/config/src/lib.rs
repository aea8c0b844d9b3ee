//! Bureau's configuration: bureau.toml and mcpServers JSON into a validated Config.
