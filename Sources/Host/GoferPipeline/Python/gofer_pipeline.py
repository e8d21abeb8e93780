"""Gofer pipelines as code, in Python (standard library only, Python >= 3.9).

The same model as the Swift builder ``GoferPipeline`` and the YAML config: a pipeline of tasks
(containers, shell commands, common tasks) with dependencies and their conditions, triggers,
hooks and secret references. ``emit()`` prints the JSON document ``gofer pipeline apply -``
takes, or, when apply would refuse it, every problem at the Python line that wrote its part::

    from gofer_pipeline import Pipeline, secret

    p = Pipeline("website", description="Build, test and publish the site.")
    build = p.container("build", image="node:22", command=["npm", "run", "build"])
    test = p.shell("test", "npm test").after(build)
    p.container("publish", image="alpine:3").env(TOKEN=secret("publish_token")).after(test)
    p.every("1h")
    p.emit()            # python3 pipeline.py | gofer pipeline apply -

The checks are the server's own loader (``gofer pipeline check``, found on PATH or as
$GOFER_BIN) plus the structure (ids, dependencies, cycles) checked here when it is not found.
"""
from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

__all__ = ["Pipeline", "Task", "Problem", "secret", "global_secret", "SUCCESS", "FAILURE", "ANY"]

JSON = Union[None, bool, int, float, str, List["JSON"], Dict[str, "JSON"]]

SUCCESS = "success"
FAILURE = "failure"
ANY = "any"
_CONDITIONS = (SUCCESS, FAILURE, ANY)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def secret(key: str) -> str:
    """A secret of this pipeline, resolved when a task starts: ``secret{{key}}``."""
    return "secret{{%s}}" % key


def global_secret(key: str) -> str:
    """A global secret the pipeline's namespace may use: ``global_secret{{key}}``."""
    return "global_secret{{%s}}" % key


@dataclass(frozen=True)
class Location:
    """Where a part of the pipeline was written."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Problem:
    """One thing apply would refuse: the field (a JSON Pointer), why, and the line that wrote it."""

    path: str
    message: str
    at: Location

    def __str__(self) -> str:
        return f"{self.at}: {self.path + ': ' if self.path else ''}{self.message}"


def _caller(depth: int = 2) -> Location:
    frame = inspect.stack()[depth]
    return Location(os.path.relpath(frame.filename) if not frame.filename.startswith("<") else frame.filename, frame.lineno)


class Task:
    """One task; made by ``Pipeline.container``, ``Pipeline.shell`` or ``Pipeline.common_task``."""

    def __init__(self, fields: Dict[str, JSON], at: Location) -> None:
        self._fields = fields
        self._depends_on: Dict[str, str] = {}
        self.at = at

    @property
    def id(self) -> str:
        value = self._fields["id"]
        return value if isinstance(value, str) else str(value)

    def after(self, *tasks: Union["Task", str], when: str = SUCCESS) -> "Task":
        """Runs once each of ``tasks`` has ended as ``when`` says (success, failure or any)."""
        for t in tasks:
            self._depends_on[t.id if isinstance(t, Task) else t] = when
        return self

    def env(self, **variables: str) -> "Task":
        """Environment variables; values may be secret references (``secret("key")``)."""
        current = self._fields.get("env")
        merged: Dict[str, JSON] = dict(current) if isinstance(current, dict) else {}
        merged.update(variables)
        self._fields["env"] = merged
        return self

    def entrypoint(self, *arguments: str) -> "Task":
        self._fields["entrypoint"] = list(arguments)
        return self

    def timeout(self, duration: str) -> "Task":
        """How long it may run (``30m``)."""
        self._fields["timeout"] = duration
        return self

    def cpu(self, cores: float) -> "Task":
        self._fields["cpu"] = cores
        return self

    def memory(self, amount: str) -> "Task":
        """Memory limit: ``512MB``, ``2GB``, ``1GiB``."""
        self._fields["memory"] = amount
        return self

    def logging(self, on: bool) -> "Task":
        self._fields["logging"] = on
        return self

    def placement(self, placement: Dict[str, JSON]) -> "Task":
        """Where a cluster scheduler may run it, in the scheduler's terms."""
        self._fields["placement"] = placement
        return self

    def describe(self, text: str) -> "Task":
        self._fields["description"] = text
        return self

    def document(self) -> Dict[str, JSON]:
        doc: Dict[str, JSON] = dict(self._fields)
        if self._depends_on:
            doc["depends_on"] = dict(self._depends_on)
        return doc


class Pipeline:
    """A pipeline: an id (1-63 of a-z 0-9 - _), its tasks, triggers and hooks."""

    def __init__(self, id: str, name: Optional[str] = None, description: Optional[str] = None) -> None:
        self.at = _caller()
        self._fields: Dict[str, JSON] = {"id": id}
        if name is not None:
            self._fields["name"] = name
        if description is not None:
            self._fields["description"] = description
        self.tasks: List[Task] = []
        self._triggers: List[Tuple[Dict[str, JSON], Location]] = []
        self._hooks: List[Tuple[Dict[str, JSON], Location]] = []

    # Tasks

    def container(self, id: str, image: str, command: Optional[Sequence[str]] = None) -> Task:
        """A task that runs ``image`` (``command`` replacing the image's CMD)."""
        fields: Dict[str, JSON] = {"id": id, "image": image}
        if command is not None:
            fields["command"] = list(command)
        return self._add(Task(fields, _caller()))

    def shell(self, id: str, script: str) -> Task:
        """A task that runs a shell command on the server's default image (``run:``)."""
        return self._add(Task({"id": id, "run": script}, _caller()))

    def common_task(self, id: str, extension: str, settings: Optional[Dict[str, JSON]] = None) -> Task:
        """A task done by an installed common-task extension, with its settings."""
        return self._add(Task({"id": id, "extension": extension, "settings": settings or {}}, _caller()))

    def _add(self, task: Task) -> Task:
        self.tasks.append(task)
        return task

    # Pipeline settings, triggers and hooks

    def parallelism(self, runs: int) -> "Pipeline":
        self._fields["parallelism"] = runs
        return self

    def inject_api_token(self, on: bool = True) -> "Pipeline":
        self._fields["inject_api_token"] = on
        return self

    def keep_versions(self, n: int) -> "Pipeline":
        self._fields["keep_versions"] = n
        return self

    def every(self, duration: str, label: Optional[str] = None) -> "Pipeline":
        """A run every ``duration`` (``15m``, ``1h``): the interval trigger."""
        return self._trigger("interval", label, {"every": duration})

    def cron(self, schedule: str, label: Optional[str] = None) -> "Pipeline":
        """A run on a cron schedule (``0 3 * * *``)."""
        return self._trigger("cron", label, {"schedule": schedule})

    def trigger(self, name: str, label: Optional[str] = None, settings: Optional[Dict[str, JSON]] = None) -> "Pipeline":
        """Any installed trigger, with its settings."""
        return self._trigger(name, label, settings or {})

    def _trigger(self, name: str, label: Optional[str], settings: Dict[str, JSON]) -> "Pipeline":
        use: Dict[str, JSON] = {"trigger": name, "settings": settings}
        if label is not None:
            use["label"] = label
        self._triggers.append((use, _caller(3)))
        return self

    def hook(self, extension: str, label: Optional[str] = None, settings: Optional[Dict[str, JSON]] = None) -> "Pipeline":
        """A common task told when each run starts and ends (a commit status, an alert)."""
        use: Dict[str, JSON] = {"extension": extension}
        if settings:
            use["settings"] = settings
        if label is not None:
            use["label"] = label
        self._hooks.append((use, _caller()))
        return self

    # The document and its checks

    def document(self) -> Dict[str, JSON]:
        """The pipeline document, as ``gofer pipeline apply`` takes it."""
        doc: Dict[str, JSON] = dict(self._fields)
        doc["tasks"] = [t.document() for t in self.tasks]
        if self._triggers:
            doc["triggers"] = [use for use, _ in self._triggers]
        if self._hooks:
            doc["hooks"] = [use for use, _ in self._hooks]
        return doc

    def location(self, path: str) -> Location:
        """Where the part at a JSON Pointer ``path`` was written."""
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[1].isdigit():
            index = int(parts[1])
            if parts[0] == "tasks" and index < len(self.tasks):
                return self.tasks[index].at
            if parts[0] == "triggers" and index < len(self._triggers):
                return self._triggers[index][1]
            if parts[0] == "hooks" and index < len(self._hooks):
                return self._hooks[index][1]
        return self.at

    def problems(self, gofer: Optional[str] = None) -> List[Problem]:
        """What apply would refuse. With the ``gofer`` CLI (``gofer``, $GOFER_BIN or PATH): the
        server's own loader; without it, the structure only (ids, dependencies, cycles)."""
        exe = gofer or os.environ.get("GOFER_BIN") or shutil.which("gofer")
        if exe:
            try:
                answer = subprocess.run(
                    [exe, "pipeline", "check", "-", "--json"], input=json.dumps(self.document()).encode(), capture_output=True, check=False)
                found = json.loads(answer.stdout.decode() or "{}").get("problems")
            except (OSError, ValueError):
                found = None  # no usable CLI: the structure is checked here
            if isinstance(found, list):
                return [Problem(str(p.get("path", "")), str(p.get("message", "")), self.location(str(p.get("path", "")))) for p in found]
        return self._structure()

    def _structure(self) -> List[Problem]:
        problems: List[Problem] = []

        def add(path: str, message: str) -> None:
            problems.append(Problem(path, message, self.location(path)))

        pid = self._fields.get("id")
        if not isinstance(pid, str) or not _ID.match(pid):
            add("/id", "must be 1-63 of a-z 0-9 - _, starting with a letter or digit")
        if not self.tasks:
            add("/tasks", "a pipeline needs at least one task")
        seen: Dict[str, int] = {}
        for i, t in enumerate(self.tasks):
            if not _ID.match(t.id):
                add(f"/tasks/{i}/id", f'"{t.id}" must be 1-63 of a-z 0-9 - _, starting with a letter or digit')
            elif t.id in seen:
                add(f"/tasks/{i}/id", f'"{t.id}" is already the id of task {seen[t.id]}')
            seen.setdefault(t.id, i)
        for i, t in enumerate(self.tasks):
            for parent, when in t._depends_on.items():
                if parent not in seen:
                    add(f"/tasks/{i}/depends_on", f'unknown task "{parent}" (tasks: {", ".join(seen)})')
                if when not in _CONDITIONS:
                    add(f"/tasks/{i}/depends_on/{parent}", f'"{when}" is not a condition (success, failure or any)')
        # A cycle, found without recursion (Kahn's algorithm).
        indegree = {t.id: 0 for t in self.tasks}
        children: Dict[str, List[str]] = {t.id: [] for t in self.tasks}
        for t in self.tasks:
            for parent in t._depends_on:
                if parent in children and t.id in indegree:
                    children[parent].append(t.id)
                    indegree[t.id] += 1
        ready = [k for k, v in indegree.items() if v == 0]
        done = 0
        while ready:
            node = ready.pop()
            done += 1
            for child in children[node]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        if done < len(indegree):
            stuck = sorted(k for k, v in indegree.items() if v > 0)
            add(f"/tasks/{seen[stuck[0]]}/depends_on", "the dependencies form a cycle through " + ", ".join(stuck))
        return problems

    def emit(self) -> None:
        """Prints the JSON document on stdout; or every problem on stderr and exits 1."""
        found = self.problems()
        if found:
            for p in found:
                print(p, file=sys.stderr)
            raise SystemExit(1)
        print(json.dumps(self.document(), sort_keys=True, separators=(",", ":")))
