// The in-process reference of `make loadtest`: the same pipeline the HTTP load runs
// (smart_crop 256x256 + WebP) on the same JPEG bytes, called directly from one thread per
// worker, with libvips at one thread per operation as in the server. Prints JSON.
//
//   LoadBench IMAGE SECONDS [THREADS]
import Dispatch
import Foundation
import SmartCrop
import Synchronization

let arguments = CommandLine.arguments
guard arguments.count >= 3, let bytes = FileManager.default.contents(atPath: arguments[1]), let seconds = Double(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: LoadBench IMAGE SECONDS [THREADS]\n".utf8))
    exit(2)
}
let threads = arguments.count > 3 ? Int(arguments[3]) ?? 1 : ProcessInfo.processInfo.activeProcessorCount
try ImageEngine.setThreadsPerOperation(1)
let models = try FaceModels()
let pipeline = Pipeline([.smartCrop(SmartCropSettings(width: 256, height: 256)), .convert(ConvertOperation(format: .webp))])
let options = PipelineOptions(faceModels: models)
// Warm-up: load the detector and touch the code once.
_ = try PipelineRunner.run(pipeline, on: .data(bytes), options: options)

let completed = Atomic<Int>(0)
let failures = Atomic<Int>(0)
let start = DispatchTime.now()
let end = start.uptimeNanoseconds + UInt64(seconds * 1e9)
let group = DispatchGroup()
for _ in 0..<threads {
    group.enter()
    Thread.detachNewThread {
        while DispatchTime.now().uptimeNanoseconds < end {
            do {
                _ = try PipelineRunner.run(pipeline, on: .data(bytes), options: options)
                completed.add(1, ordering: .relaxed)
            } catch {
                failures.add(1, ordering: .relaxed)
            }
        }
        group.leave()
    }
}
group.wait()
let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
let n = completed.load(ordering: .relaxed)
print("{\"threads\": \(threads), \"seconds\": \(elapsed), \"completed\": \(n), \"errors\": \(failures.load(ordering: .relaxed)), \"per_second\": \(Double(n) / elapsed)}")
