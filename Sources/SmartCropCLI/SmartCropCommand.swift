import ArgumentParser
import Foundation
import SmartCrop

@main
struct SmartCropCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smartcrop",
        abstract: "Face- and subject-aware cropping, resizing and encoding of images.",
        subcommands: [CropCommand.self, RunCommand.self, JobCommand.self]
    )

    /// Exit codes: 0 success, 1 a failure on valid usage (bad image, unwritable output…),
    /// 2 bad usage. Failures print one line on stderr.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as SmartCropError {
            fail(error.message)
        } catch let error as CLIError {
            fail(error.message)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }

    static func fail(_ message: String) -> Never {
        let oneLine = message.replacingOccurrences(of: "\n", with: "; ")
        FileHandle.standardError.write(Data("smartcrop: \(oneLine)\n".utf8))
        Foundation.exit(1)
    }
}

struct CLIError: Error {
    let message: String
}
