import ArgumentParser
import Dispatch
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
        version: "smartcrop \(smartcropVersion)\n\(KernelReport.current.summary)",
        subcommands: [CropCommand.self, BatchCommand.self, DetectCommand.self, RunCommand.self, JobCommand.self, ServeCommand.self, SignCommand.self, ModelsCommand.self]
    )

    /// Exit codes: 0 success, 1 a failure on valid usage (bad image, unwritable output…),
    /// 2 bad usage. Failures print one line on stderr.
    static func main() {
        do {
            var command = try parseAsRoot()
            // A wrong SMARTCROP_ISA is a usage error of every command, before it reads anything.
            if let error = KernelReport.current.error {
                writeStandardError("smartcrop: \(error)\n")
                Glibc.exit(2)
            }
            if let asyncCommand = command as? any AsyncParsableCommand {
                try runBlocking(asyncCommand)
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
                writeStandardError(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }

    /// Runs an async subcommand (the server) to completion. The other commands stay
    /// synchronous so a one-shot crop never starts the concurrency runtime's threads.
    static func runBlocking(_ command: any AsyncParsableCommand) throws {
        nonisolated(unsafe) var command = command
        nonisolated(unsafe) var failure: (any Error)?
        let done = DispatchSemaphore(value: 0)
        Task {
            do { try await command.run() } catch { failure = error }
            done.signal()
        }
        done.wait()
        if let failure { throw failure }
    }

    static func fail(_ message: String) -> Never {
        writeStandardError("smartcrop: \(message.replacing("\n", with: "; "))\n")
        Glibc.exit(1)
    }
}

struct CLIError: Error {
    let message: String
}
