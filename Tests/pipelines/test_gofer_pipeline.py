"""The Python pipeline builder: the document it prints, and what it refuses at the line that wrote it.
Run by PipelinesAsCodeTests (GOFER_BIN: the built gofer, for the loader-backed checks)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Sources/Host/GoferPipeline/Python"))

from gofer_pipeline import ANY, FAILURE, Pipeline, global_secret, secret  # noqa: E402

GOFER = os.environ.get("GOFER_BIN", "")


def tasks_of(doc: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The document's tasks, as plain dicts."""
    tasks: List[Dict[str, Any]] = json.loads(json.dumps(doc["tasks"]))
    return tasks


def line_of(text: str) -> int:
    """The line of this file that contains `text` (where a part was written)."""
    for number, line in enumerate(Path(__file__).read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in this file")


def test_the_document_has_every_part_as_yaml_writes_it() -> None:
    p = Pipeline("app", name="App", description="builds").parallelism(2).inject_api_token()
    build = p.container("build", image="busybox:latest", command=["make"]).env(A="1", KEY=secret("k"), G=global_secret("g"))
    p.shell("test", "make test").after(build).timeout("30m").cpu(0.5).memory("512MB")
    p.common_task("tell", extension="notify", settings={"message": "hi"}).after("test", when=ANY)
    p.every("15m", label="often").cron("0 3 * * *").hook("github-status")
    doc = p.document()
    assert doc["id"] == "app" and doc["name"] == "App" and doc["parallelism"] == 2 and doc["inject_api_token"] is True
    tasks = tasks_of(doc)
    assert tasks[0] == {"id": "build", "image": "busybox:latest", "command": ["make"],
                        "env": {"A": "1", "KEY": "secret{{k}}", "G": "global_secret{{g}}"}}
    assert tasks[1] == {"id": "test", "run": "make test", "depends_on": {"build": "success"}, "timeout": "30m", "cpu": 0.5, "memory": "512MB"}
    assert tasks[2]["depends_on"] == {"test": "any"}
    assert doc["triggers"] == [{"trigger": "interval", "label": "often", "settings": {"every": "15m"}},
                               {"trigger": "cron", "settings": {"schedule": "0 3 * * *"}}]
    assert doc["hooks"] == [{"extension": "github-status"}]


def test_structure_problems_point_at_the_line_without_the_cli() -> None:
    p = Pipeline("app")
    p.shell("a", "true").after("b")
    p.shell("b", "true").after("a")
    p.shell("c", "true").after("nowhere")  # the unknown one
    found = p.problems(gofer="/nonexistent/gofer")
    texts = [str(x) for x in found]
    unknown = [x for x in found if "unknown task" in x.message]
    assert unknown and unknown[0].at.line == line_of("# the unknown one"), texts
    assert any("cycle" in x.message for x in found), texts


@pytest.mark.skipif(not GOFER, reason="needs GOFER_BIN (the built gofer) for the loader's checks")
def test_what_apply_refuses_is_refused_at_the_line_that_wrote_it() -> None:
    p = Pipeline("app")
    p.container("big", image="busybox:latest").memory("1")  # too little memory
    p.shell("ok", "true")
    found = p.problems(gofer=GOFER)
    assert len(found) == 1, found
    assert found[0].path == "/tasks/0/memory" and "less than" in found[0].message
    assert found[0].at.line == line_of("# too little memory")


@pytest.mark.skipif(not GOFER, reason="needs GOFER_BIN")
def test_emit_prints_the_document_or_exits_1_with_each_problem(tmp_path: Path) -> None:
    script = tmp_path / "bad.py"
    script.write_text(
        "from gofer_pipeline import Pipeline\n"
        "p = Pipeline('app')\n"
        "p.shell('t', 'true').timeout('1s')\n"
        "p.emit()\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "Sources/Host/GoferPipeline/Python"), GOFER_BIN=GOFER)
    bad = subprocess.run([sys.executable, str(script)], capture_output=True, env=env, cwd=tmp_path, check=False)
    assert bad.returncode == 1 and bad.stdout == b""
    assert b"bad.py:3: /tasks/0/timeout:" in bad.stderr, bad.stderr
    good = subprocess.run([sys.executable, str(ROOT / "examples/python-pipeline/pipeline.py")], capture_output=True, env=env, check=False)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["id"] == "website"


def test_failure_condition_and_a_task_object_or_id_name_the_same_parent() -> None:
    p = Pipeline("app")
    a = p.shell("a", "true")
    p.shell("b", "true").after(a, when=FAILURE)
    p.shell("c", "true").after("a", when=FAILURE)
    tasks = tasks_of(p.document())
    assert tasks[1]["depends_on"] == tasks[2]["depends_on"] == {"a": "failure"}
