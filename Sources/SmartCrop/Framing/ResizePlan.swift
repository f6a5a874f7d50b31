/// How a resize fits the image into the requested box (the five fits of sharp and imgproxy).
public enum Fit: String, Codable, Sendable, CaseIterable {
    /// Fill the box exactly, cropping what overflows (centred).
    case cover
    /// Fit inside the box, then pad to exactly the box with a background colour.
    case contain
    /// Stretch to exactly the box, ignoring the aspect ratio.
    case fill
    /// Fit inside the box, keeping the aspect ratio; no padding, so the result may be smaller.
    case inside
    /// Cover the box, keeping the aspect ratio; no cropping, so the result may be larger.
    case outside
}

/// The geometry of one resize: which region of the input to keep, what size to resample it to,
/// and where that sits on the output canvas.
public struct ResizePlan: Equatable, Sendable {
    /// The part of the input that is kept (all of it, except for `cover`).
    public var region: PixelRect
    public var scaledWidth: Int
    public var scaledHeight: Int
    public var canvasWidth: Int
    public var canvasHeight: Int
    /// Position of the resampled region on the canvas (non-zero only for `contain`).
    public var offsetX: Int
    public var offsetY: Int

    /// - Parameters:
    ///   - width, height: the requested box; a missing side follows the aspect ratio.
    ///   - allowEnlargement: when false, no axis is scaled up; the output is then smaller than
    ///     the box (or, for `contain`, padded up to it).
    public static func make(inputWidth: Int, inputHeight: Int, width: Int?, height: Int?,
                            fit: Fit, allowEnlargement: Bool) -> ResizePlan {
        let W = Double(inputWidth), H = Double(inputHeight)
        let whole = PixelRect(x: 0, y: 0, width: inputWidth, height: inputHeight)
        func capped(_ s: Double) -> Double { allowEnlargement ? s : Swift.min(s, 1) }
        func size(_ v: Double) -> Int { Swift.max(1, Int(v.rounded())) }

        guard let width, let height else {
            let scale = capped(width.map { Double($0) / W } ?? height.map { Double($0) / H } ?? 1)
            let w = size(W * scale), h = size(H * scale)
            return ResizePlan(region: whole, scaledWidth: w, scaledHeight: h, canvasWidth: w, canvasHeight: h, offsetX: 0, offsetY: 0)
        }
        let tw = Double(width), th = Double(height)
        switch fit {
        case .cover:
            let crop = AspectFit.largestCrop(width: inputWidth, height: inputHeight, targetWidth: width, targetHeight: height)
            let region = AspectFit.centred(on: Point(x: W / 2, y: H / 2), size: crop, imageWidth: inputWidth, imageHeight: inputHeight)
            let scale = capped(tw / Double(crop.width))
            let w = allowEnlargement || scale < 1 ? width : crop.width
            let h = allowEnlargement || scale < 1 ? height : crop.height
            return ResizePlan(region: region, scaledWidth: w, scaledHeight: h, canvasWidth: w, canvasHeight: h, offsetX: 0, offsetY: 0)
        case .contain, .inside:
            let scale = capped(Swift.min(tw / W, th / H))
            let w = Swift.min(size(W * scale), width), h = Swift.min(size(H * scale), height)
            if fit == .inside {
                return ResizePlan(region: whole, scaledWidth: w, scaledHeight: h, canvasWidth: w, canvasHeight: h, offsetX: 0, offsetY: 0)
            }
            return ResizePlan(region: whole, scaledWidth: w, scaledHeight: h, canvasWidth: width, canvasHeight: height,
                              offsetX: (width - w) / 2, offsetY: (height - h) / 2)
        case .fill:
            let w = size(W * capped(tw / W)), h = size(H * capped(th / H))
            return ResizePlan(region: whole, scaledWidth: w, scaledHeight: h, canvasWidth: w, canvasHeight: h, offsetX: 0, offsetY: 0)
        case .outside:
            let scale = capped(Swift.max(tw / W, th / H))
            let w = Swift.max(size(W * scale), allowEnlargement ? width : 1)
            let h = Swift.max(size(H * scale), allowEnlargement ? height : 1)
            return ResizePlan(region: whole, scaledWidth: w, scaledHeight: h, canvasWidth: w, canvasHeight: h, offsetX: 0, offsetY: 0)
        }
    }
}
