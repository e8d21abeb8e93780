import DockerEngine
import ExtensionSDK
import Testing

/// What a failed pull means, from the messages Docker Engine really answers with: a registry that
/// cannot be reached is not a missing image, and neither is one that refuses the credentials.
struct ImagePullFailureTests {
    @Test(arguments: [
        // Taken from dockerd 26 (`POST /images/create`), offline and against Docker Hub.
        (500, #"Get "https://does-not-exist.invalid/v2/": dial tcp: lookup does-not-exist.invalid on 10.255.255.53:53: no such host"#, ImageFailure.registryUnreachable),
        (500, #"Get "https://registry-1.docker.io/v2/": net/http: TLS handshake timeout"#, .registryUnreachable),
        (500, #"Get "https://10.0.0.9:5000/v2/": dial tcp 10.0.0.9:5000: connect: connection refused"#, .registryUnreachable),
        (500, #"Get "https://reg.example/v2/": x509: certificate signed by unknown authority"#, .registryUnreachable),
        (404, "manifest for busybox:no-such-tag not found: manifest unknown: manifest unknown", .notFound),
        (404, "pull access denied for nosuchrepo, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", .notFound),
        (500, "Head \"https://ghcr.io/v2/org/app/manifests/1\": unauthorized", .denied),
        (401, "authentication required", .denied),
    ])
    func aPullFailureIsClassifiedByWhatWentWrong(status: Int, message: String, expected: ImageFailure) {
        #expect(DockerAPI.pullFailure(status: status, message: message) == expected, "\(message)")
    }

    @Test func eachFailureTravelsAsItsOwnReasonAndCode() throws {
        let unreachable = ImageFailure.registryUnreachable.error("cannot pull")
        #expect(unreachable.code == .unavailable && unreachable.retryable && ImageFailure(unreachable) == .registryUnreachable)
        #expect(ImageFailure.notFound.error("x").code == .notFound && !ImageFailure.notFound.error("x").retryable)
        #expect(ImageFailure.denied.error("x").code == .permissionDenied)
        #expect(ImageFailure(ProtocolError(.notFound, "other")) == nil)
    }
}
