/// registry/index.json as built into this binary (a test keeps the two equal).
enum BundledRegistry {
    static let json = #"""
{
  "registry": "gofer-bundled",
  "description": "Extensions built from this repository (source: a build product of this package). The format is being specified with `gofer extension install`; see registry/README.md.",
  "extensions": [
    {
      "name": "docker",
      "kind": "scheduler",
      "description": "Runs task containers on a Docker engine (Engine API 1.41+).",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": true,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-scheduler-docker"
          }
        }
      ]
    },
    {
      "name": "process",
      "kind": "scheduler",
      "description": "Runs task commands as local processes (no isolation; tests and benchmarks).",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": false,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-scheduler-process"
          }
        }
      ]
    },
    {
      "name": "swarm",
      "kind": "scheduler",
      "description": "Runs task containers as Docker Swarm jobs across the nodes of a swarm (Engine API 1.41+).",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": false,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-scheduler-swarm"
          }
        }
      ]
    },
    {
      "name": "nomad",
      "kind": "scheduler",
      "description": "Runs task containers as Nomad batch jobs (docker driver) through the Nomad HTTP API.",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": false,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-scheduler-nomad"
          }
        }
      ]
    },
    {
      "name": "interval",
      "kind": "trigger",
      "description": "Starts runs on a fixed interval.",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": true,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-trigger-interval"
          }
        }
      ]
    },
    {
      "name": "cron",
      "kind": "trigger",
      "description": "Starts runs on a cron schedule (5 fields or @daily-style aliases) in a time zone.",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": true,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-trigger-cron"
          }
        }
      ]
    },
    {
      "name": "github",
      "kind": "trigger",
      "description": "Starts runs from GitHub webhooks (push, tag, pull_request, release).",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": false,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-trigger-github"
          }
        }
      ]
    },
    {
      "name": "hello",
      "kind": "trigger",
      "description": "The 21-line example trigger from docs/extensions.md.",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": false,
      "versions": [
        {
          "version": "1.0.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-trigger-hello"
          }
        }
      ]
    },
    {
      "name": "echo",
      "kind": "task",
      "description": "Prints a message to the task log.",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": false,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-task-echo"
          }
        }
      ]
    },
    {
      "name": "github-status",
      "kind": "task",
      "description": "Sets GitHub commit statuses for runs (pending, then success/failure/error).",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": false,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-task-github-status"
          }
        }
      ]
    },
    {
      "name": "notify",
      "kind": "task",
      "description": "Alerts a webhook or Slack when a run finishes, fails, or a condition holds.",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": false,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-task-notify"
          }
        }
      ]
    },
    {
      "name": "memory-secrets",
      "kind": "secrets",
      "description": "Secrets in memory (lost on restart); for tests and demos.",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": false,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-secrets-memory"
          }
        }
      ]
    },
    {
      "name": "embedded-secrets",
      "kind": "secrets",
      "description": "Secrets in an AES-256-GCM encrypted file owned by Gofer (the default).",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": true,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-secrets-embedded"
          }
        }
      ]
    },
    {
      "name": "vault-secrets",
      "kind": "secrets",
      "description": "Secrets in HashiCorp Vault / OpenBao (KV v2), token or AppRole auth.",
      "maintainers": [
        "gofer maintainers"
      ],
      "bundledDefault": false,
      "versions": [
        {
          "version": "0.1.0",
          "protocolVersions": [
            "1.1"
          ],
          "source": {
            "buildProduct": "gofer-secrets-vault"
          }
        }
      ]
    }
  ]
}
"""#
}
