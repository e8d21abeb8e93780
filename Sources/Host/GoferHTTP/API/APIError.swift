import ExtensionClient
import ExtensionSDK
import Foundation
import Hummingbird

/// The one error body every endpoint returns:
/// `{"code": "not_found", "message": "pipeline \"default/x\" not found", "details": [{"field": "/tasks/0/image", "message": "…", "line": 4}]}`.
public struct APIError: Error, Sendable, Codable, CustomStringConvertible {
    public struct Detail: Sendable, Codable, Equatable {
        public var field: String
        public var message: String
        public var line: Int?
        public var column: Int?
    }

    public var status: Int
    public var code: String
    public var message: String
    public var details: [Detail]
    /// Sent as `Retry-After` (429s).
    public var retryAfterSeconds: Int?
    /// What went wrong underneath, for the side that made this error (never sent: `message` says it).
    public var cause: (any Error)?

    public init(status: Int, code: String, message: String, details: [Detail] = [], cause: (any Error)? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.cause = cause
    }

    enum CodingKeys: String, CodingKey { case code, message, details }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = 0
        code = try c.decode(String.self, forKey: .code)
        message = try c.decode(String.self, forKey: .message)
        details = try c.decodeIfPresent([Detail].self, forKey: .details) ?? []
    }

    public var description: String {
        ([message] + details.map { d in "  \(d.field.isEmpty ? "" : d.field + ": ")\(d.message)" + (d.line.map { " (line \($0)" + (d.column.map { ", column \($0)" } ?? "") + ")" } ?? "") })
            .joined(separator: "\n")
    }

    static func badRequest(_ message: String, details: [Detail] = []) -> APIError {
        APIError(status: 400, code: "invalid_request", message: message, details: details)
    }

    /// Maps any error from below into the API's shape.
    package static func from(_ error: any Error) -> APIError {
        switch error {
        case let e as APIError: return e
        case let e as StoreError:
            switch e {
            case .notFound, .gone: return APIError(status: 404, code: "not_found", message: e.description)
            case .conflict(let m): return APIError(status: 409, code: "conflict", message: m)
            case .storageFull: return APIError(status: 507, code: "storage_full", message: e.description)
            case .storageFailed: return APIError(status: 503, code: "storage_error", message: e.description)
            case .unreachable: return APIError(status: 503, code: "database_unreachable", message: e.description)
            }
        case let e as ConfigError:
            return APIError(
                status: 422, code: "invalid_config",
                message: "the pipeline config is invalid (\(e.problems.count) problem\(e.problems.count == 1 ? "" : "s"))",
                details: e.problems.map { Detail(field: $0.path, message: $0.message, line: $0.line, column: $0.column) })
        case let e as ExtensionError:
            let details = e.details.map { Detail(field: $0.path, message: $0.message) }
            switch e.kind {
            case .notFound: return APIError(status: 404, code: "not_found", message: e.message, details: details)
            case .conflict: return APIError(status: 409, code: "conflict", message: e.message, details: details)
            case .invalid: return APIError(status: 422, code: "invalid_extension", message: e.message, details: details)
            case .incompatible: return APIError(status: 422, code: "incompatible_protocol", message: e.message, details: details)
            case .failed: return APIError(status: 502, code: "extension_failed", message: e.message, details: details)
            }
        case let e as SecretError:
            switch e.kind {
            case .notFound: return APIError(status: 404, code: "not_found", message: e.message)
            case .denied: return APIError(status: 403, code: "forbidden", message: e.message)
            case .invalid: return APIError(status: 400, code: "invalid_request", message: e.message)
            case .tooLarge: return APIError(status: 413, code: "too_large", message: e.message)
            case .unavailable: return APIError(status: 503, code: "secret_store_unavailable", message: e.message)
            }
        case let e as ObjectError:
            switch e {
            case .notFound: return APIError(status: 404, code: "not_found", message: e.description)
            case .tooLarge, .scopeFull: return APIError(status: 413, code: "too_large", message: e.description)
            case .incomplete: return APIError(status: 400, code: "incomplete_upload", message: e.description)
            case .invalidBody: return APIError(status: 400, code: "invalid_request", message: e.description)
            case .corrupt: return APIError(status: 500, code: "object_corrupt", message: e.description)
            case .storageFull: return APIError(status: 507, code: "storage_full", message: e.description)
            case .storageFailed: return APIError(status: 503, code: "storage_error", message: e.description)
            case .notText: return APIError(status: 422, code: "not_text", message: e.description)
            }
        case let e as TrialRefusal:
            switch e.kind {
            case .off: return APIError(status: 404, code: "not_found", message: e.message)
            case .tooManyTrials:
                var error = APIError(status: 429, code: "rate_limited", message: e.message)
                error.retryAfterSeconds = e.retryAfter.map { max(1, Int($0.components.seconds) + 1) }
                return error
            case .budgetSpent: return APIError(status: 403, code: "budget_spent", message: e.message)
            case .capReached: return APIError(status: 403, code: "trial_limit", message: e.message)
            }
        case let e as AuthError:
            switch e {
            case .unauthenticated(let message): return APIError(status: 401, code: "unauthorized", message: message)
            case .forbidden(let permission, _, let message):
                return APIError(status: 403, code: "forbidden", message: message, details: [Detail(field: "permission", message: permission.description)])
            case .rateLimited:
                var error = APIError(status: 429, code: "rate_limited", message: e.description)
                error.retryAfterSeconds = e.retryAfterSeconds
                return error
            }
        case let e as RolloutError:
            return .badRequest(e.message, details: e.problems.map { Detail(field: $0.path, message: $0.message) })
        case let e as WebhookError:
            switch e.kind {
            case .unavailable: return APIError(status: 503, code: "trigger_unavailable", message: e.message)
            case .unknownTrigger, .notExternal: return APIError(status: 404, code: "not_found", message: e.message)
            case .tooLarge: return APIError(status: 413, code: "too_large", message: e.message)
            case .badAnswer: return APIError(status: 502, code: "bad_trigger_answer", message: e.message)
            case .timedOut: return APIError(status: 504, code: "trigger_timeout", message: e.message)
            case .refused(let code):
                let status: Int
                switch code {
                case .permissionDenied: status = 401
                case .invalidParams: status = 400
                case .resourceExhausted: status = 413
                case .deadlineExceeded: status = 504
                default: status = 502
                }
                return APIError(status: status, code: "trigger_refused", message: e.message)
            }
        case let e as SubscriptionError:
            return APIError(status: 409, code: "subscription_failed", message: e.description)
        case let e as SupervisorError:
            return APIError(status: 503, code: "scheduler_unavailable", message: e.description)
        case let e as ExtensionFailure:
            return APIError(status: 503, code: "scheduler_unavailable", message: e.message)
        default:
            return APIError(status: 500, code: "internal", message: ErrorText.wrapping("internal error", error), cause: error)
        }
    }
}
