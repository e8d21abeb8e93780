// The pipeline of examples/hello.yaml's shape, written in Swift with GoferPipeline (docs/pipelines.md
// shows it in YAML, Swift and Python side by side):
//
//     swift run example-pipeline | gofer pipeline apply -
//
// In a package of your own: depend on the `GoferPipeline` product of this package.
import GoferPipeline

let pipeline = Pipeline("website", description: "Build, test and publish the site.") {
    Container("build", image: "busybox:latest", command: ["sh", "-c", "echo building"])
    Shell("test", "echo testing").after("build")
    Shell("lint", "echo linting").after("build")
    Container("publish", image: "busybox:latest", command: ["sh", "-c", "echo publishing with a token of ${#TOKEN} characters"])
        .env(["TOKEN": Secret.pipeline("publish_token")])
        .memory("64MB")
        .after("test", "lint")
    Shell("tell-oncall", "echo the site is broken").after("test", "lint", when: .failure)
}
.every("1h")

pipeline.emit()
