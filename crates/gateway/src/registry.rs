//! Every tool the gateway offers, with what `tools/list` sends precomputed.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use bureau_protocol::ToolSpec;
use bureau_tools::{ToolDef, Toolset};

use crate::Upstream;
use rmcp::model::{Tool, ToolAnnotations};

use crate::{GatewayError, Policy};

/// Where a tool's work happens.
#[derive(Clone)]
pub(crate) enum Source {
    Builtin(Arc<dyn Toolset>),
    Upstream(Arc<dyn Upstream>),
}

pub(crate) struct Entry {
    pub(crate) def: ToolDef,
    pub(crate) name: Arc<str>,
    pub(crate) source: Source,
    pub(crate) tool: Tool,
    /// Shown in `tools/list` (policy may allow some call of it).
    pub(crate) listed: bool,
}

pub(crate) struct Registry {
    entries: Vec<Entry>,
    by_name: HashMap<Arc<str>, usize>,
    listed_tools: Vec<Tool>,
    listed_specs: Vec<ToolSpec>,
    /// "files.list, files.read, …" for unknown-tool messages.
    listed_names: String,
}

impl Registry {
    pub(crate) fn new(
        toolsets: Vec<Arc<dyn Toolset>>,
        upstream: Option<Arc<dyn Upstream>>,
        policy: &dyn Policy,
    ) -> Result<Self, GatewayError> {
        let mut sources: Vec<(ToolDef, Source)> = Vec::new();
        for toolset in toolsets {
            for def in toolset.tools() {
                sources.push((def.clone(), Source::Builtin(toolset.clone())));
            }
        }
        if let Some(up) = upstream {
            for spec in up.tools() {
                // What an upstream tool touches is its server's business;
                // policy sees it as a call on `Server::"<server>"`.
                let def = ToolDef {
                    spec,
                    needs: Vec::new(),
                    read_only: false,
                };
                sources.push((def, Source::Upstream(up.clone())));
            }
        }
        let mut entries = Vec::new();
        let mut by_name = HashMap::new();
        for (def, source) in sources {
            let name: Arc<str> = Arc::from(def.spec.name.as_str());
            if by_name.insert(name.clone(), entries.len()).is_some() {
                return Err(GatewayError::DuplicateTool {
                    name: def.spec.name.clone(),
                });
            }
            entries.push(Entry {
                tool: to_mcp_tool(&def),
                listed: policy.may_allow(&def),
                def,
                name,
                source,
            });
        }
        let listed: Vec<&Entry> = entries.iter().filter(|e| e.listed).collect();
        let listed_tools = listed.iter().map(|e| e.tool.clone()).collect();
        let listed_specs = listed.iter().map(|e| e.def.spec.clone()).collect();
        let listed_names = listed
            .iter()
            .map(|e| &*e.name)
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Self {
            entries,
            by_name,
            listed_tools,
            listed_specs,
            listed_names,
        })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Entry> {
        self.by_name.get(name).and_then(|&i| self.entries.get(i))
    }

    pub(crate) fn listed_tools(&self) -> &[Tool] {
        &self.listed_tools
    }

    pub(crate) fn listed_specs(&self) -> &[ToolSpec] {
        &self.listed_specs
    }

    pub(crate) fn listed_names(&self) -> &str {
        if self.listed_names.is_empty() {
            "no tools"
        } else {
            &self.listed_names
        }
    }
}

fn to_mcp_tool(def: &ToolDef) -> Tool {
    let schema = match &def.spec.input_schema {
        serde_json::Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    Tool::new(
        Cow::Owned(def.spec.name.clone()),
        Cow::Owned(def.spec.description.clone()),
        Arc::new(schema),
    )
    .with_annotations(
        ToolAnnotations::new()
            .read_only(def.read_only)
            .destructive(!def.read_only)
            .open_world(false),
    )
}
