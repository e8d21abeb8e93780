"""A scheduler that runs each task as a container through the docker CLI (jobs outlive it: found by label)."""
import asyncio, json
from typing import Any
from gofer_extension import CommandFailed, JobSpec, JobStatus, LogSink, Scheduler, command, serve

def job(c: Any) -> JobStatus:  # one container of `docker inspect`
    s, ended = c["State"], c["State"]["Status"] == "exited"
    state = s["Status"] if s["Status"] in ("created", "running", "exited") else "unknown"
    started = None if s["StartedAt"].startswith("0001") else s["StartedAt"]
    return JobStatus(c["Id"], state, s["ExitCode"] if ended else None, s["OOMKilled"], started, s["FinishedAt"] if ended else None, c["Config"]["Labels"] or {})

class DockerCLI(Scheduler):
    name, summary = "py-docker", "Runs tasks as containers through the docker CLI (Python example)."
    async def list(self, labels: "dict[str, str]") -> "list[JobStatus]":
        ids = (await command("docker", "ps", "-aq", "--no-trunc", *("--filter=label=%s=%s" % kv for kv in labels.items()))).split()
        return [job(c) for c in json.loads(await command("docker", "inspect", *(i.decode() for i in ids)))] if ids else []
    async def start(self, spec: JobSpec) -> str:
        for found in await self.list({"gofer.task_execution": spec.task_execution_id}):
            return found.handle  # started before: the same job
        flags = ["--label=%s=%s" % kv for kv in {**spec.labels, "gofer.task_execution": spec.task_execution_id}.items()]
        flags += ["-e%s=%s" % kv for kv in spec.env.items()] + (["--entrypoint", spec.entrypoint[0]] if spec.entrypoint else [])
        args = (spec.entrypoint or [])[1:] + (spec.command or [])
        return (await command("docker", "run", "-d", *flags, spec.image, *args)).decode().strip()
    async def inspect(self, handle: str) -> "JobStatus | None":
        try:
            return job(json.loads(await command("docker", "inspect", "--type=container", handle))[0])
        except CommandFailed:
            return None  # no such container
    async def stop(self, handle: str, grace: float) -> None:
        await command("docker", "stop", "-t", str(max(1, round(grace))), handle)
    async def remove(self, handle: str) -> None:
        await command("docker", "rm", "-f", handle)
    async def logs(self, handle: str, sink: LogSink, follow: bool) -> None:
        pipe = asyncio.subprocess.PIPE
        await sink.pipe(await asyncio.create_subprocess_exec("docker", "logs", *(["-f"] if follow else []), handle, stdout=pipe, stderr=pipe))

serve(DockerCLI())
