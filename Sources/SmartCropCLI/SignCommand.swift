import ArgumentParser
import SmartCrop
import URLSigning
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct SignCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Print the signed GET path of a transform, for a CDN in front of `smartcrop serve`.",
        discussion: """
        The path is /v1/img/SIGNATURE/OPERATIONS/SOURCE.EXT: OPERATIONS is the pipeline JSON and
        SOURCE the source URL, each base64url without padding, and SIGNATURE is
        base64url(HMAC-SHA256(KEY, SALT + "/" + OPERATIONS + "/" + SOURCE.EXT)). The extension
        picks the output format when the operations have no convert.
        """
    )

    @Option(help: "The signing key (the server's url_signing key or SMARTCROP_URL_SIGNING_KEY).")
    var key: String

    @Option(help: "The salt that goes with the key.")
    var salt: String = ""

    @Option(help: "The source image: an http or https URL, or local:///PATH under the server's local_root.")
    var source: String

    @Option(help: "The operations: the pipeline JSON, as for /v1/transform.")
    var ops: String

    @Option(help: "Output extension: jpg, png, webp, avif or gif.")
    var ext: String = "webp"

    func validate() throws {
        guard !key.isEmpty else { throw ValidationError("--key must not be empty") }
        do { _ = try SignedSource.parse(source) } catch { throw ValidationError("--source: \(error.message)") }
        guard let format = ImageFormat(name: ext), format.canEncode else { throw ValidationError("--ext must be jpg, png, webp, avif or gif") }
        do { _ = try Pipeline.parse(Data(ops.utf8)) } catch let error as SmartCropError {
            throw ValidationError("--ops: \(error.message)")
        }
    }

    func run() throws {
        print(URLSigner.path(operations: ops, source: source, ext: ext, key: URLSigningKey(key: key, salt: salt)))
    }
}
