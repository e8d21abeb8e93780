"""A common task that prints a greeting and says whom it greeted (an output later tasks can use)."""
from gofer_extension import CommonTask, Job, Outcome, failure, serve, success

class Greet(CommonTask):
    name, summary = "py-greet", "Prints a greeting (Python example)."
    params_schema = {"type": "object", "additionalProperties": False,
                     "properties": {"who": {"type": "string", "minLength": 1}, "fail": {"type": "boolean"}}}
    async def run(self, job: Job) -> Outcome:
        who = job.params.get("who", "world")
        await job.print("hello, %s, from run %s" % (who, job.variables.get("GOFER_RUN", "?")))
        if job.params.get("fail"):
            return failure("asked to fail")
        return success("greeted " + who, greeted=who)

serve(Greet())
