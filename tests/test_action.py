"""The composite GitHub Action (`action.yml`) and the CI examples in the docs.

The action's gate step is run for real: its `env` is evaluated the way the runner does for
the `${{ inputs.* }}` forms it uses, and its script runs in bash against the test world, so
the argument building, the default report file and the step outputs are all exercised.
Installing (setup-python, pip from the action's checkout) is what GitHub runs; here the
package is already installed, so that step is only syntax-checked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no stubs in the test extras

from cargo_verify.mock.world import RunningWorld
from tests.conftest import REPO, LockedProject, lock_project

ACTION = REPO / "action.yml"
ACTION_NAME = "cargo-verify/cargo-verify"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
INPUT_EXPRESSION = re.compile(r"inputs\.([A-Za-z0-9_-]+)")
STEP_OUTPUT_EXPRESSION = re.compile(r"steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)")
DEPENDENCIES = """\
mochi-example = { version = "0.1", registry = "mochi" }
legacy-unsigned = { version = "0.1", registry = "mochi" }
"""


def load_action() -> dict[str, Any]:
    document = yaml.safe_load(ACTION.read_text())
    assert isinstance(document, dict)
    return document


def steps() -> list[dict[str, Any]]:
    runs = load_action()["runs"]
    assert runs["using"] == "composite"
    result: list[dict[str, Any]] = runs["steps"]
    return result


def expressions(node: Any) -> Iterator[str]:
    """The text inside every `${{ }}` anywhere under `node`."""
    if isinstance(node, dict):
        for value in node.values():
            yield from expressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from expressions(value)
    elif isinstance(node, str):
        yield from EXPRESSION.findall(node)


def test_metadata_and_inputs_are_documented() -> None:
    action = load_action()
    assert action["name"] and action["description"]
    assert set(action["inputs"]) >= {"lockfile", "unsigned", "format"}
    for name, spec in action["inputs"].items():
        assert spec.get("description"), name
        assert "default" in spec, f"input {name} needs a default (all are optional)"
    assert action["inputs"]["format"]["default"] == "github"


def test_every_input_is_used_and_every_expression_resolves() -> None:
    action = load_action()
    step_ids = {step["id"] for step in steps() if "id" in step}
    used_inputs: set[str] = set()
    for text in expressions(action):
        if match := INPUT_EXPRESSION.fullmatch(text):
            assert match[1] in action["inputs"], f"undeclared input in ${{{{ {text} }}}}"
            used_inputs.add(match[1])
        elif match := STEP_OUTPUT_EXPRESSION.fullmatch(text):
            assert match[1] in step_ids, f"unknown step in ${{{{ {text} }}}}"
        else:
            raise AssertionError(f"unexpected expression ${{{{ {text} }}}}")
    assert used_inputs == set(action["inputs"])
    for name, spec in action["outputs"].items():
        assert STEP_OUTPUT_EXPRESSION.fullmatch(next(EXPRESSION.finditer(spec["value"]))[1]), name


def test_scripts_take_inputs_only_from_the_environment() -> None:
    scripts = [step for step in steps() if "run" in step]
    assert scripts
    for step in scripts:
        # `${{ }}` inside a script is pasted in before bash parses it: an injection hole.
        assert "${{" not in step["run"], step["name"]
        assert step["shell"] == "bash", "composite run steps must name their shell"
        checked = subprocess.run(["bash", "-n"], input=step["run"], text=True,
                                 capture_output=True)
        assert checked.returncode == 0, f"{step['name']}: {checked.stderr}"
    for step in steps():
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+", step["uses"]), step["uses"]


@dataclass
class GateRun:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str


def run_gate_step(
    workspace: Path, inputs: dict[str, str], env: dict[str, str] | None = None
) -> GateRun:
    """Run the `gate` step as the runner would, with `inputs` over the declared defaults."""
    action = load_action()
    values = {name: str(spec["default"]) for name, spec in action["inputs"].items()}
    values |= inputs
    (gate,) = [step for step in steps() if step.get("id") == "gate"]

    def evaluate(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            found = INPUT_EXPRESSION.fullmatch(match[1])
            assert found is not None, match[0]
            return values[found[1]]

        return EXPRESSION.sub(one, text)

    step_env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("CARGO_", "GITHUB_"))
    }
    outputs_file = workspace / "github-output.txt"
    summary_file = workspace / "step-summary.md"
    for path in (outputs_file, summary_file):
        path.write_text("")
    step_env |= env or {}
    step_env |= {name: evaluate(str(value)) for name, value in gate["env"].items()}
    step_env |= {
        "GITHUB_OUTPUT": str(outputs_file),
        "GITHUB_STEP_SUMMARY": str(summary_file),
        "GITHUB_WORKSPACE": str(workspace),
        # As the install step leaves it: cargo-verify on PATH.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    cwd = workspace / evaluate(gate["working-directory"])
    done = subprocess.run(["bash", "-c", gate["run"]], cwd=cwd, env=step_env,
                          capture_output=True, text=True, timeout=300)
    outputs = dict(
        line.split("=", 1) for line in outputs_file.read_text().splitlines() if line
    )
    return GateRun(done.returncode, done.stdout, done.stderr, outputs, summary_file.read_text())


@pytest.fixture(scope="module")
def locked(world: RunningWorld, tmp_path_factory: pytest.TempPathFactory) -> LockedProject:
    return lock_project(tmp_path_factory.mktemp("action-lock"), {"mochi": world}, DEPENDENCIES)


@pytest.fixture
def workspace(tmp_path: Path, locked: LockedProject) -> Path:
    """A repository checkout with the locked project in `app/` and a copy in `tool/`."""
    for name in ("app", "tool"):
        (tmp_path / name).mkdir()
        shutil.copy(locked.lockfile, tmp_path / name / "Cargo.lock")
    return tmp_path


def test_gate_step_sarif_with_unsigned_deny(
    workspace: Path, locked: LockedProject
) -> None:
    run = run_gate_step(
        workspace,
        {
            "lockfile": "app/Cargo.lock",
            "unsigned": "deny",
            "format": "sarif",
            "trusted-root": str(locked.trusted_root),
            "args": "--no-cache  --jobs 1",
        },
        env={"CARGO_HOME": str(workspace / "empty-cargo-home")},
    )

    assert run.returncode == 1, run.stderr
    assert run.outputs["exit-code"] == "1"
    report = Path(run.outputs["report"])
    assert report == workspace / "cargo-verify.sarif"
    results = json.loads(report.read_text())["runs"][0]["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [("unsigned", "error")]
    # The human report went to the log.
    assert run.stdout.startswith("cargo-verify: app/Cargo.lock\n")
    assert run.summary == ""


def test_gate_step_github_over_two_lockfiles_in_a_working_directory(
    workspace: Path, locked: LockedProject
) -> None:
    run = run_gate_step(
        workspace,
        {
            "lockfile": "app/Cargo.lock\ntool/Cargo.lock\n",
            "trusted-root": str(locked.trusted_root),
            "args": "--no-cache",
            "working-directory": ".",
        },
        env={"CARGO_HOME": str(workspace / "empty-cargo-home")},
    )

    assert run.returncode == 0, run.stderr
    assert run.outputs == {"exit-code": "0"}
    # The unsigned crate is a warning annotation in each lockfile, at its own line.
    warnings = [line for line in run.stdout.splitlines() if line.startswith("::warning ")]
    assert [w.split(",")[0] for w in warnings] == [
        "::warning file=app/Cargo.lock", "::warning file=tool/Cargo.lock",
    ]
    assert run.summary.count("## cargo-verify: passed") == 2


def test_gate_step_usage_error_fails_without_a_report(tmp_path: Path) -> None:
    run = run_gate_step(tmp_path, {"lockfile": "missing/Cargo.lock", "format": "json"})

    assert run.returncode == 2
    assert run.outputs == {"exit-code": "2"}
    assert "lockfile not found" in run.stderr
    assert not (tmp_path / "cargo-verify.json").exists()


# -- the documentation's examples ---------------------------------------------------------------

CI_DOCS = REPO / "docs" / "ci.md"


def yaml_blocks(markdown: str) -> list[Any]:
    return [yaml.safe_load(block) for block in re.findall(r"```ya?ml\n(.*?)```", markdown, re.S)]


def action_uses(document: Any) -> list[dict[str, Any]]:
    """Every workflow step in `document` that uses this action."""
    if not isinstance(document, dict) or "jobs" not in document:
        return []
    return [
        step
        for job in document["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith(f"{ACTION_NAME}@")
    ]


@pytest.mark.parametrize("document", [CI_DOCS, REPO / "README.md"], ids=["docs/ci.md", "README"])
def test_docs_show_a_workflow_using_the_action(document: Path) -> None:
    inputs = set(load_action()["inputs"])
    outputs = set(load_action()["outputs"])
    uses = [step for block in yaml_blocks(document.read_text()) for step in action_uses(block)]
    assert uses, f"{document.name} shows no workflow step `uses: {ACTION_NAME}@...`"
    for step in uses:
        assert set(step.get("with", {})) <= inputs, step
    text = document.read_text()
    for referenced in re.findall(r"steps\.[\w-]+\.outputs\.([\w-]+)", text):
        assert referenced in outputs, referenced


def test_ci_docs_show_gitlab_and_pre_commit_configurations() -> None:
    blocks = yaml_blocks(CI_DOCS.read_text())
    gitlab_jobs = [
        job for block in blocks if isinstance(block, dict) and "jobs" not in block
        for job in block.values() if isinstance(job, dict) and "script" in job
    ]
    assert any("cargo-verify check" in " ".join(job["script"]) for job in gitlab_jobs)
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook_ids = {hook["id"] for hook in hooks}
    configured = [
        hook
        for block in blocks if isinstance(block, dict) and "repos" in block
        for repo in block["repos"] for hook in repo["hooks"]
    ]
    assert configured and all(hook["id"] in hook_ids for hook in configured)
