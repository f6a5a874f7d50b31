import CVips
import CVipsShim
import Foundation
import Testing
@testable import SmartCrop

/// libvips shared by many requests at once: what one request builds or frees must not reach
/// into another's.
@Suite struct ConcurrentVipsTests {
    /// libvips 8.14 frees its orc programs without a lock while another thread may be compiling
    /// one, and orc 0.4.33's code-memory list breaks (a crash in orc_code_chunk_merge).
    @Test func orcKernelsAreOffWhereLibvipsFreesThemUnlocked() throws {
        try Vips.ensureStarted()
        if sc_orc_frees_unlocked() != 0 {
            #expect(vips_vector_isenabled() == 0)
        }
    }

    /// Eight workers building and dropping resizes, blurs and sharpens (the operations that
    /// compile orc programs on libvips 8.14) at once, each result equal to the serial one.
    @Test func concurrentResizesBlursAndSharpensMatchTheSerialResult() async throws {
        let side = 96
        let source = try Image.fromPixels(try Synthetic.texture(width: side, height: side - 24),
                                          width: side, height: side - 24, bands: 3)
        @Sendable func work(_ step: Int) throws -> Data {
            let scale = 0.31 + Double(step % 5) * 0.07
            let image = try source.resized(horizontal: scale, vertical: scale)
                .blurred(sigma: 1.2).sharpened(sigma: 1)
            return try Synthetic.encode(image, ".png")
        }
        let expected = try (0..<5).map(work)
        let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var wrong = 0
                    for step in 0..<120 where try work(worker + step) != expected[(worker + step) % 5] { wrong += 1 }
                    return wrong
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }
}
