// swift-tools-version: 6.2
import Foundation
import PackageDescription

/// Every target of ours: Swift 6 mode and no warnings (a warning is an error, so none accumulate).
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6), .enableUpcomingFeature("ExistentialAny"), .treatAllWarnings(as: .error)]

/// Extensions shipped beside `gofer` (the bundled registry's build products that a server may
/// run): whatever starts a server depends on them, so `swift run` builds them too.
let bundledExtensions: [Target.Dependency] = [
    "gofer-scheduler-docker", "gofer-scheduler-swarm", "gofer-scheduler-nomad", "gofer-scheduler-process", "gofer-trigger-interval", "gofer-trigger-cron", "gofer-trigger-github",
    "gofer-secrets-embedded", "gofer-secrets-vault", "gofer-secrets-memory", "gofer-task-github-status", "gofer-task-notify",
]

/// The commit a release is built from: scripts/release.sh sets GOFER_BUILD_COMMIT for `swift build`
/// (ASCII letters, digits, `-` and `.` pass, e.g. `3f2a9c1b7d4e-dirty`); only the small C target below is rebuilt for it.
let buildCommit = (Context.environment["GOFER_BUILD_COMMIT"] ?? "").filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }.prefix(64)
let buildInfoSettings: [CSetting] = buildCommit.isEmpty ? [] : [.define("GOFER_BUILD_COMMIT", to: "\"\(buildCommit)\"")]

let package = Package(
    name: "gofer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gofer", targets: ["gofer"]),
        .library(name: "ExtensionSDK", targets: ["ExtensionSDK"]),
        .library(name: "ExtensionConformance", targets: ["ExtensionConformance"]),
        .executable(name: "gofer-conformance", targets: ["gofer-conformance"]),
        .executable(name: "gofer-trigger-interval", targets: ["gofer-trigger-interval"]),
        .executable(name: "gofer-trigger-cron", targets: ["gofer-trigger-cron"]),
        .executable(name: "gofer-trigger-github", targets: ["gofer-trigger-github"]),
        .executable(name: "gofer-task-echo", targets: ["gofer-task-echo"]),
        .executable(name: "gofer-task-github-status", targets: ["gofer-task-github-status"]),
        .executable(name: "gofer-task-notify", targets: ["gofer-task-notify"]),
        .executable(name: "gofer-scheduler-process", targets: ["gofer-scheduler-process"]),
        .executable(name: "gofer-secrets-memory", targets: ["gofer-secrets-memory"]),
        .executable(name: "gofer-secrets-embedded", targets: ["gofer-secrets-embedded"]),
        .executable(name: "gofer-secrets-vault", targets: ["gofer-secrets-vault"]),
        .executable(name: "gofer-scheduler-docker", targets: ["gofer-scheduler-docker"]),
        .executable(name: "gofer-scheduler-swarm", targets: ["gofer-scheduler-swarm"]),
        .executable(name: "gofer-scheduler-nomad", targets: ["gofer-scheduler-nomad"]),
        .executable(name: "gofer-bench", targets: ["gofer-bench"]),
        // Pipelines as code: a typed builder whose document `gofer pipeline apply -` takes.
        .library(name: "GoferPipeline", targets: ["GoferPipeline"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // Already built for HummingbirdTesting; the CLI uses it for HTTPS servers.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // `gofer task attach`: a terminal carried over a WebSocket, server and client.
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        // Already built for Hummingbird; the server's connection guard reads its HTTP parts.
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // Already built for Hummingbird; the core streams objects in its ByteBuffers.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Observability: swift-metrics and swift-distributed-tracing are the APIs the server records
        // with; Prometheus (/metrics) and OpenTelemetry (OTLP/HTTP; no gRPC stack) are the backends.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        // The PostgreSQL store backend (`database_url: postgres://…`); NIOSSL for its TLS (already
        // built for async-http-client).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // `swift package generate-documentation`: the SDK's DocC catalog, built by scripts/docs.sh (a plugin, linked into nothing).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        // What extension authors build against: wire types, framing, dispatch, kinds. Foundation only.
        .target(
            name: "ExtensionSDK", dependencies: ["ExtensionSDKShims"], path: "Sources/ExtensionSDK", exclude: ["Python"], swiftSettings: strict),
        // C helpers: spawn flags, pipe sizes, malloc tuning, and a TLS client with OpenSSL loaded at run time.
        .target(name: "ExtensionSDKShims", path: "Sources/ExtensionSDKShims", linkerSettings: [.linkedLibrary("dl")]),
        // The commit of a release build (`gofer --version`, GET /api/health).
        .target(name: "GoferBuildInfo", path: "Sources/Host/GoferBuildInfo", cSettings: buildInfoSettings),
        // The host end of the protocol: spawning an extension and talking to it. Shared by the host and
        // the conformance suite so both see an extension exactly the same way.
        .target(name: "ExtensionClient", dependencies: ["ExtensionSDK"], path: "Sources/ExtensionClient", swiftSettings: strict),
        // Pipeline configs: the model, the YAML/JSON/TOML loader, secret references. No server
        // dependencies, so it can be fuzzed on its own.
        .target(
            name: "GoferConfig", dependencies: ["ExtensionSDK", .product(name: "Yams", package: "Yams")], path: "Sources/Host/GoferConfig",
            swiftSettings: strict),
        // The domain: states, pipelines, runs, versions, permissions and tokens, rollouts, object
        // scopes, registry entries, and the typed errors of each. No server, database or HTTP library.
        .target(name: "GoferModel", dependencies: ["ExtensionSDK", "GoferConfig"], path: "Sources/Host/GoferModel", swiftSettings: strict),
        // The REST API's request types: the server decodes them, the CLI and gofer-bench encode them.
        .target(name: "GoferAPIModels", dependencies: ["ExtensionSDK", "GoferConfig", "GoferModel"], path: "Sources/Host/GoferAPIModels", swiftSettings: strict),
        // All state and every SQL statement: repositories over one connection pool, migrations from
        // one list, a state change and its event in one transaction. No HTTP or server library.
        .target(
            name: "GoferStore",
            dependencies: [
                "ExtensionSDK", "GoferConfig", "GoferModel", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // SHA-256 of the rows `gofer service migrate` copies.
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/Host/GoferStore",
            swiftSettings: strict),
        // The core: the run engine, the hosts of each extension kind and the extension manager, secrets,
        // objects, rollouts, trials, authentication. The store below it; nothing of HTTP or the server.
        .target(
            name: "GoferCore",
            dependencies: [
                "ExtensionSDK", "ExtensionSDKShims", "ExtensionClient", "GoferConfig", "GoferModel", "GoferAPIModels", "GoferStore", "GoferBuildInfo",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Sources/Host/GoferCore", swiftSettings: strict),
        // The HTTP edge: the REST API's route tables (each route declares its access), `APIError` and
        // its mapping from every typed error, the web UI, /metrics. Above the core; not the server's wiring.
        .target(
            name: "GoferHTTP",
            dependencies: [
                "ExtensionSDK", "ExtensionClient", "GoferConfig", "GoferModel", "GoferAPIModels", "GoferStore", "GoferCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "OTel", package: "swift-otel"),
            ],
            path: "Sources/Host/GoferHTTP",
            // The web UI's source files; WebUI/WebUIAssets.swift is generated from them.
            exclude: ["WebUI/assets", "WebUI/generate-assets.py"], swiftSettings: strict),
        // The server: wires the store, the core and the HTTP edge together; its settings, the
        // connection guard, TLS, the data directory's lock and first start.
        .target(
            name: "GoferHost",
            dependencies: [
                "ExtensionSDK", "ExtensionSDKShims", "ExtensionClient", "GoferCore", "GoferHTTP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Sources/Host/GoferHost", swiftSettings: strict),
        .executableTarget(
            name: "gofer",
            dependencies: [
                "GoferHost", "ExtensionClient", "ExtensionSDKShims", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ] + bundledExtensions,
            path: "Sources/Host/gofer", swiftSettings: strict),
        .executableTarget(
            name: "gofer-bench",
            dependencies: [
                "ExtensionSDK", "ExtensionClient", "GoferHost", "TestSupport", .product(name: "Crypto", package: "swift-crypto"), "gofer-task-echo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), "ExtensionSDKShims",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ] + bundledExtensions,
            path: "Sources/GoferBench", swiftSettings: strict),

        // Extensions: each depends on ExtensionSDK only.
        .executableTarget(
            name: "gofer-trigger-interval", dependencies: ["ExtensionSDK"], path: "Extensions/trigger-interval",
            swiftSettings: strict),
        .target(name: "CronSchedule", path: "Extensions/trigger-cron/Schedule", swiftSettings: strict),
        .executableTarget(
            name: "gofer-trigger-cron", dependencies: ["ExtensionSDK", "CronSchedule"], path: "Extensions/trigger-cron/Trigger",
            swiftSettings: strict),
        // What GitHub sends, checked and understood: signatures, changes, filters. Pure, so it is fuzzed.
        .target(
            name: "GitHubWebhook", dependencies: ["ExtensionSDK", .product(name: "Crypto", package: "swift-crypto")],
            path: "Extensions/trigger-github/Webhook", swiftSettings: strict),
        .executableTarget(
            name: "gofer-trigger-github",
            dependencies: ["ExtensionSDK", "GitHubWebhook", .product(name: "Crypto", package: "swift-crypto")],
            path: "Extensions/trigger-github/Trigger", swiftSettings: strict),
        .executableTarget(
            name: "gofer-secrets-embedded", dependencies: ["ExtensionSDK", .product(name: "Crypto", package: "swift-crypto")],
            path: "Extensions/secrets-embedded", swiftSettings: strict),
        .executableTarget(name: "gofer-secrets-vault", dependencies: ["ExtensionSDK"], path: "Extensions/secrets-vault", swiftSettings: strict),
        .executableTarget(
            name: "gofer-trigger-hello", dependencies: ["ExtensionSDK"], path: "Extensions/hello-trigger", swiftSettings: strict),
        .executableTarget(
            name: "gofer-task-echo", dependencies: ["ExtensionSDK"], path: "Extensions/task-echo", swiftSettings: strict),
        // GitHub commit statuses: requests, answers and the App JWT (pure, tested on its own), and the task.
        .target(
            name: "GitHubStatusClient",
            dependencies: [
                "ExtensionSDK", .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Extensions/task-github-status/Client", swiftSettings: strict),
        .executableTarget(
            name: "gofer-task-github-status", dependencies: ["ExtensionSDK", "GitHubStatusClient"], path: "Extensions/task-github-status/Task",
            swiftSettings: strict),
        // Alerts on run conditions: the conditions (pure) and the task that delivers them.
        .target(name: "NotifyConditions", dependencies: ["ExtensionSDK"], path: "Extensions/task-notify/Conditions", swiftSettings: strict),
        .executableTarget(
            name: "gofer-task-notify",
            dependencies: ["ExtensionSDK", "NotifyConditions", .product(name: "Crypto", package: "swift-crypto")],
            path: "Extensions/task-notify/Task", swiftSettings: strict),
        .executableTarget(
            name: "gofer-scheduler-process", dependencies: ["ExtensionSDK"], path: "Extensions/scheduler-process",
            swiftSettings: strict),
        // The Docker Engine API as the Docker and Swarm schedulers use it.
        .target(name: "DockerEngine", dependencies: ["ExtensionSDK"], path: "Extensions/docker-engine", swiftSettings: strict),
        .executableTarget(
            name: "gofer-scheduler-docker", dependencies: ["ExtensionSDK", "DockerEngine"], path: "Extensions/scheduler-docker",
            swiftSettings: strict),
        .executableTarget(
            name: "gofer-scheduler-swarm", dependencies: ["ExtensionSDK", "DockerEngine"], path: "Extensions/scheduler-swarm",
            swiftSettings: strict),
        // Nomad's HTTP API (jobs, blocking queries, allocations, framed logs), pure enough to test on its own.
        .target(name: "NomadAPI", dependencies: ["ExtensionSDK"], path: "Extensions/scheduler-nomad/API", swiftSettings: strict),
        .executableTarget(
            name: "gofer-scheduler-nomad", dependencies: ["ExtensionSDK", "NomadAPI"], path: "Extensions/scheduler-nomad/Scheduler",
            swiftSettings: strict),
        .executableTarget(
            name: "gofer-secrets-memory", dependencies: ["ExtensionSDK"], path: "Extensions/secrets-memory",
            swiftSettings: strict),

        // Conformance suite: a library for `swift test` and an executable for anyone's CI.
        .target(
            name: "ExtensionConformance", dependencies: ["ExtensionSDK", "ExtensionClient"],
            path: "ExtensionTests/Conformance", swiftSettings: strict),
        .executableTarget(
            name: "gofer-conformance", dependencies: ["ExtensionConformance"], path: "ExtensionTests/gofer-conformance",
            swiftSettings: strict),
        .executableTarget(
            name: "gofer-fixture-broken", dependencies: [], path: "ExtensionTests/Fixtures/broken-extension",
            swiftSettings: strict),

        .target(
            name: "GoferPipeline", dependencies: ["GoferConfig", "ExtensionSDK"], path: "Sources/Host/GoferPipeline", exclude: ["Python"],
            swiftSettings: strict),
        .executableTarget(name: "example-pipeline", dependencies: ["GoferPipeline"], path: "examples/swift-pipeline", swiftSettings: strict),
        .target(
            name: "TestSupport", dependencies: ["ExtensionSDK", .product(name: "Crypto", package: "swift-crypto")], path: "Tests/TestSupport", swiftSettings: strict),
        // Hostile-but-valid-looking pipeline configs from a fuzzer's bytes or a seed (no dependencies,
        // so the structure-aware fuzzer and the property tests share it).
        .target(name: "PipelineGenerator", path: "Tests/PipelineGenerator", swiftSettings: strict),
        .testTarget(
            name: "ExtensionSDKTests", dependencies: ["ExtensionSDK", "ExtensionClient", "TestSupport"], path: "Tests/ExtensionSDKTests",
            swiftSettings: strict),
        .testTarget(
            name: "GoferHostTests",
            dependencies: [
                "GoferHost", "GoferCore", "GoferStore", "ExtensionClient", "ExtensionSDK", "TestSupport", "CronSchedule", "GitHubWebhook", "GitHubStatusClient",
                "NotifyConditions", "ExtensionConformance", "NomadAPI", "DockerEngine", "PipelineGenerator", "GoferPipeline",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            path: "Tests/GoferHostTests",
            swiftSettings: strict),
        // The repository contract, run against every store backend.
        .testTarget(name: "GoferStoreTests", dependencies: ["GoferStore", "GoferModel", "GoferConfig"], path: "Tests/GoferStoreTests", swiftSettings: strict),
        .testTarget(
            name: "ConformanceTests", dependencies: ["ExtensionConformance", "ExtensionClient", "ExtensionSDK", "TestSupport"],
            path: "Tests/ConformanceTests", swiftSettings: strict),
    ]
)

// libFuzzer targets (Tests/Fuzz/run.sh builds them with GOFER_FUZZ=1 into .build-fuzz, with
// -sanitize=fuzzer,address on everything they use). They have no main of their own, so they exist
// only in that build.
if ProcessInfo.processInfo.environment["GOFER_FUZZ"] == "1" {
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("fuzz-json", ["ExtensionSDK"]),
        ("fuzz-frame", ["ExtensionSDK"]),
        ("fuzz-pipeline-config", ["GoferConfig"]),
        ("fuzz-pipeline-structure", ["GoferConfig", "ExtensionSDK", "PipelineGenerator"]),
        ("fuzz-cron", ["CronSchedule"]),
        ("fuzz-github-webhook", ["GitHubWebhook", "ExtensionSDK", .product(name: "Crypto", package: "swift-crypto")]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(
            .executableTarget(
                name: name, dependencies: dependencies, path: "Tests/Fuzz/\(name)",
                swiftSettings: strict + [.unsafeFlags(["-parse-as-library"])]))
        package.products.append(.executable(name: name, targets: [name]))
    }
}
