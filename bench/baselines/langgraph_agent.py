#!/usr/bin/env python3
"""LangGraph baseline for `bureau bench orchestrator`.

The same workload as Bureau's whole-process benchmark, written the way a
LangGraph user would write it: N agent runs in one process, each S tool
steps, then a final text answer.

* The model is a fake chat model (no network): on each turn it looks at the
  conversation and asks for one tool call -- step 1 writes a small note,
  steps 2..S read it back -- and after S tool results it answers "done".
  `--latency-ms` adds an `asyncio.sleep` per model call, standing in for a
  remote model's response time.
* The graph is the standard prebuilt agent loop: a model node, LangGraph's
  `ToolNode`, and `tools_condition` routing between them.
* The tools do real file I/O in a per-run temporary folder.
* `--checkpointer sqlite` persists every super-step through LangGraph's
  `AsyncSqliteSaver` (one database file shared by all runs, one thread per
  run), like Bureau's SQLite journal; `none` compiles the graph without one.

It prints one JSON line with the same keys as Bureau's benchmark (`runs`,
`steps` = total tool steps, `completed`, `wall_s`, `cpu_s`, `cpu_us_per_step`,
`peak_rss_bytes`, ...) plus `framework`. CPU time is `getrusage(RUSAGE_SELF)`
user+sys around the runs only (imports and graph compilation excluded); peak
RSS is `ru_maxrss` for the whole process, as Bureau reports its `VmHWM`.

A run counts as completed only if its tools really executed S times and the
graph ended on the model's final text; the script exits non-zero otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition
from typing_extensions import TypedDict

NOTE_PATH = "note.txt"
NOTE_TEXT = "benchmark note\n"

# Tool executions per run id, counted by the tools themselves: the proof that
# every run really did S tool steps, independent of what the graph returned.
TOOL_CALLS: collections.Counter[str] = collections.Counter()


# --------------------------------------------------------------------------
# Tools: real file I/O inside the run's own folder, found through the config.
# They are async so `ToolNode` awaits them directly instead of hopping to a
# thread pool (the cheaper of the two options, i.e. kind to the baseline);
# the files are tiny, so the blocking calls take microseconds.
# --------------------------------------------------------------------------


def _run_file(config: RunnableConfig, path: str) -> Path:
    """Resolve `path` inside the run's folder, refusing to escape it."""
    root = Path(config["configurable"]["workdir"])
    target = (root / path).resolve()
    if root.resolve() not in target.parents:
        raise ValueError(f"path escapes the run folder: {path}")
    return target


@tool("files_write")
async def files_write(path: str, content: str, config: RunnableConfig) -> str:
    """Write `content` to the file at `path` (relative to the workspace)."""
    _run_file(config, path).write_text(content)
    TOOL_CALLS[config["configurable"]["run_id"]] += 1
    return f"wrote {len(content)} bytes to {path}"


@tool("files_read")
async def files_read(path: str, config: RunnableConfig) -> str:
    """Read the file at `path` (relative to the workspace)."""
    text = _run_file(config, path).read_text()
    TOOL_CALLS[config["configurable"]["run_id"]] += 1
    return text


TOOLS = [files_write, files_read]


# --------------------------------------------------------------------------
# The fake model. Stateless: the reply depends only on the conversation so
# far, so one instance serves every concurrent run (as one model client
# would), like Bureau's scripted model.
# --------------------------------------------------------------------------


class ScriptedToolModel(BaseChatModel):
    """Asks for `steps` tool calls (write, then reads), then answers "done"."""

    steps: int = 10
    latency_s: float = 0.0

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-model"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any):
        # What a real provider integration does: convert the tools to their
        # JSON schema once and bind them as a call argument.
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _reply(self, messages: list[BaseMessage]) -> AIMessage:
        done = sum(isinstance(m, ToolMessage) for m in messages)
        if done >= self.steps:
            return AIMessage(content="done")
        if done == 0:
            call = {"name": "files_write", "args": {"path": NOTE_PATH, "content": NOTE_TEXT}}
        else:
            call = {"name": "files_read", "args": {"path": NOTE_PATH}}
        return AIMessage(content="", tool_calls=[{**call, "id": f"call_{done}", "type": "tool_call"}])

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        if self.latency_s:
            time.sleep(self.latency_s)
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])


# --------------------------------------------------------------------------
# The agent graph: model node -> (tools_condition) -> ToolNode -> model ...
# --------------------------------------------------------------------------


class AgentState(TypedDict):
    messages: Annotated[list[BaseMessage], add_messages]


def build_graph(model: ScriptedToolModel, checkpointer=None):
    bound = model.bind_tools(TOOLS)

    async def call_model(state: AgentState, config: RunnableConfig) -> dict:
        return {"messages": [await bound.ainvoke(state["messages"], config)]}

    graph = StateGraph(AgentState)
    graph.add_node("agent", call_model)
    graph.add_node("tools", ToolNode(TOOLS))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: END})
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=checkpointer)


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def cpu_seconds() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


async def one_run(graph, index: int, steps: int, base: Path, permits: asyncio.Semaphore) -> bool:
    """One agent run; True if it did exactly `steps` tool calls and finished."""
    async with permits:
        run_id = f"run-{index}"
        workdir = base / run_id
        workdir.mkdir()
        config: RunnableConfig = {
            "configurable": {"thread_id": run_id, "run_id": run_id, "workdir": str(workdir)},
            # Each step is two super-steps (model, tools), plus the final model turn.
            "recursion_limit": 2 * steps + 5,
        }
        state = await graph.ainvoke({"messages": [HumanMessage(content="benchmark")]}, config)
        last = state["messages"][-1]
        tool_results = sum(isinstance(m, ToolMessage) for m in state["messages"])
        return (
            TOOL_CALLS[run_id] == steps
            and tool_results == steps
            and isinstance(last, AIMessage)
            and not last.tool_calls
            and last.content == "done"
        )


async def bench(args: argparse.Namespace, base: Path) -> dict:
    model = ScriptedToolModel(steps=args.steps, latency_s=args.latency_ms / 1000)
    permits = asyncio.Semaphore(max(1, args.concurrency or args.runs))

    async def run_all(graph) -> tuple[list, float, float]:
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        results = await asyncio.gather(
            *(one_run(graph, i, args.steps, base, permits) for i in range(args.runs)),
            return_exceptions=True,
        )
        return results, time.perf_counter() - t0, cpu_seconds() - cpu0

    if args.checkpointer == "sqlite":
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async with AsyncSqliteSaver.from_conn_string(str(base / "checkpoints.sqlite")) as saver:
            await saver.setup()  # create the tables outside the measured window
            results, wall, cpu = await run_all(build_graph(model, saver))
    else:
        results, wall, cpu = await run_all(build_graph(model))

    errors = [r for r in results if isinstance(r, BaseException)]
    completed = sum(r is True for r in results)
    steps = args.runs * args.steps
    report = {
        "framework": f"langgraph {version('langgraph')}",
        "runs": args.runs,
        "steps": steps,
        "completed": completed,
        "concurrency": args.concurrency or args.runs,
        "latency_ms": args.latency_ms,
        "journal": args.checkpointer,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_us_per_step": cpu * 1e6 / steps if steps else 0.0,
        # ru_maxrss is in KiB on Linux.
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "tool_calls": sum(TOOL_CALLS.values()),
    }
    if errors:
        report["first_error"] = f"{type(errors[0]).__name__}: {errors[0]}"
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--steps", type=int, default=10, help="tool steps per run")
    p.add_argument("--concurrency", type=int, default=None, help="runs in flight at once (default: all)")
    p.add_argument("--latency-ms", type=int, default=0, help="fake model latency per call")
    p.add_argument("--checkpointer", "--journal", choices=["sqlite", "none"], default="sqlite")
    p.add_argument("--json", action="store_true", help="one JSON line instead of pretty JSON")
    args = p.parse_args()
    if args.runs < 1 or args.steps < 1:
        p.error("--runs and --steps must be at least 1")

    base = Path(tempfile.mkdtemp(prefix="langgraph-bench-"))
    try:
        report = asyncio.run(bench(args, base))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(report) if args.json else json.dumps(report, indent=2))
    if report["completed"] != args.runs:
        print(f"{args.runs - report['completed']} of {args.runs} runs did not complete", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
