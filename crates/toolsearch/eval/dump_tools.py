"""Dump `tools/list` of the pinned reference MCP servers to eval/catalog/*.json.

Run once from the repository root with the pinned venv:

    .bureau-test/deps/venv/bin/python crates/toolsearch/eval/dump_tools.py

Each output file is a JSON array of `{name, description, input_schema}` where
`name` is qualified `server.tool`, as `McpHub` names tools.
"""

import asyncio
import json
import pathlib
import sys
import tempfile

from mcp import Client, StdioServerParameters

ROOT = pathlib.Path(__file__).resolve().parents[3]
DEPS = ROOT / ".bureau-test" / "deps"
OUT = pathlib.Path(__file__).resolve().parent / "catalog"


def servers(workdir: str) -> dict[str, StdioServerParameters]:
    bin_dir = DEPS / "node" / "node_modules" / ".bin"
    return {
        "everything": StdioServerParameters(command=str(bin_dir / "mcp-server-everything"), args=["stdio"]),
        "filesystem": StdioServerParameters(command=str(bin_dir / "mcp-server-filesystem"), args=[workdir]),
        "time": StdioServerParameters(command=str(DEPS / "venv" / "bin" / "mcp-server-time"), args=[]),
    }


async def dump(name: str, params: StdioServerParameters) -> None:
    async with Client(params, mode="auto") as client:
        result = await client.list_tools()
    tools = [
        {
            "name": f"{name}.{t.name}",
            "description": t.description or "",
            "input_schema": t.input_schema if hasattr(t, "input_schema") else t.inputSchema,
        }
        for t in result.tools
    ]
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(tools, indent=2, ensure_ascii=False) + "\n")
    print(f"{name}: {len(tools)} tools -> {path.relative_to(ROOT)}", file=sys.stderr)


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        for name, params in servers(workdir).items():
            await dump(name, params)


if __name__ == "__main__":
    asyncio.run(main())
