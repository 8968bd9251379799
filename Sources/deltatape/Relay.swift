import ArgumentParser
import FoundationEssentials
import Glibc

extension DeltaTapeCommand {
    /// `deltatape relay …` runs `deltatape-relay …`, the way git runs its external subcommands: the relay is built by a
    /// package of its own (Relay/), so that the CLI and `import DeltaTape` never build the server stack.
    struct Relay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Relay realtime WebSocket sessions to their API and record each one (runs deltatape-relay).",
            discussion: """
                deltatape relay --listen HOST:PORT --upstream URL --output-dir DIR [--format wav|ogg|webm] \
                [--track …] [--layout …] [--save-log] [--complexity N] [--bitrate 32k]; `deltatape relay --help` shows all of the relay's options. \
                deltatape-relay is looked for beside deltatape, then on PATH; build it with \
                `scripts/install.sh` (or `swift build --package-path Relay -c release`).
                """,
            // `deltatape relay --help` is the relay's own help: the flag goes to deltatape-relay with the rest.
            helpNames: [])

        @Argument(parsing: .allUnrecognized, help: "The relay's arguments.")
        var arguments: [String] = []

        func run() throws {
            guard let relay = Self.locate() else {
                printError("deltatape: error: deltatape relay runs deltatape-relay, which is neither beside deltatape nor on PATH; "
                    + "scripts/install.sh builds and installs both (or build it with `swift build --package-path Relay -c release` and copy Relay/.build/release/deltatape-relay beside deltatape)")
                throw ExitCode(69)
            }
            let argv = [relay] + arguments
            var pointers = argv.map { strdup($0) } + [nil]
            execv(relay, &pointers)
            printError("deltatape: error: cannot run \(relay): \(String(cString: strerror(errno)))")
            throw ExitCode(69)
        }

        /// deltatape-relay beside this executable, else the first on PATH.
        static func locate() -> String? {
            var candidates: [String] = []
            if let me = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
                candidates.append(me.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/") + "/deltatape-relay")
            }
            for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") where !folder.isEmpty {
                candidates.append("\(folder)/deltatape-relay")
            }
            return candidates.first { access($0, X_OK) == 0 }
        }
    }
}
