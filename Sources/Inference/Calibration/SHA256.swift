// SHA-256 of a model's bytes, the key of its calibration table: swift-crypto's (BoringSSL, with
// the CPU's SHA instructions where it has them). It runs once per model load where int8 could
// run; a hand-written Swift digest took a fifth of U-2-Netp's load.

import Crypto

/// Lowercase hex.
package func sha256Hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var hex: [UInt8] = []
    hex.reserveCapacity(64)
    for byte in SHA256.hash(data: bytes) {
        hex.append(digits[Int(byte >> 4)])
        hex.append(digits[Int(byte & 15)])
    }
    return String(decoding: hex, as: UTF8.self)
}
