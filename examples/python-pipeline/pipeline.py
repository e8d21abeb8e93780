"""The pipeline of examples/swift-pipeline in Python (docs/pipelines.md shows it in YAML, Swift
and Python side by side):

    PYTHONPATH=Sources/Host/GoferPipeline/Python python3 examples/python-pipeline/pipeline.py | gofer pipeline apply -
"""
from gofer_pipeline import FAILURE, Pipeline, secret

p = Pipeline("website", description="Build, test and publish the site.")
build = p.container("build", image="busybox:latest", command=["sh", "-c", "echo building"])
test = p.shell("test", "echo testing").after(build)
lint = p.shell("lint", "echo linting").after(build)
(p.container("publish", image="busybox:latest", command=["sh", "-c", "echo publishing with a token of ${#TOKEN} characters"])
    .env(TOKEN=secret("publish_token"))
    .memory("64MB")
    .after(test, lint))
p.shell("tell-oncall", "echo the site is broken").after(test, lint, when=FAILURE)
p.every("1h")

if __name__ == "__main__":
    p.emit()
