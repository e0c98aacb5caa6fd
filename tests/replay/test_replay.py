"""Every recorded history replays against the current workflow code: a change that would break
returns already in flight fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from returns_service.workflows.returns import ReturnWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_recorded_histories():
    assert len(HISTORIES) >= 3


# In the sandbox (which refuses a non-deterministic call) and as the worker runs it, without.
RUNNERS = {"sandboxed": SandboxedWorkflowRunner(), "unsandboxed": UnsandboxedWorkflowRunner()}


@pytest.mark.parametrize("runner", RUNNERS.values(), ids=RUNNERS.keys())
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path, runner: WorkflowRunner) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[ReturnWorkflow], data_converter=pydantic_data_converter, workflow_runner=runner
    )
    await replayer.replay_workflow(history)
