import ArgumentParser
import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SmartCrop

@main
struct SmartCropCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smartcrop",
        abstract: "Face- and subject-aware cropping, resizing and encoding of images.",
        subcommands: [CropCommand.self, DetectCommand.self, RunCommand.self, JobCommand.self]
    )

    /// Exit codes: 0 success, 1 a failure on valid usage (bad image, unwritable output…),
    /// 2 bad usage. Failures print one line on stderr.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as SmartCropError {
            fail(error.message)
        } catch let error as CLIError {
            fail(error.message)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                writeStandardError(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }

    static func fail(_ message: String) -> Never {
        writeStandardError("smartcrop: \(message.replacing("\n", with: "; "))\n")
        Glibc.exit(1)
    }
}

struct CLIError: Error {
    let message: String
}
