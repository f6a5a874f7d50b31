/// What each encoder can write, and how hard it is asked to work. JPEG and PNG write tile by
/// tile, so the stop signal ends them part-way; WebP, AVIF and GIF hand each whole frame to an
/// encoder (GIF's to a quantiser) that cannot be stopped once started, so their pixel count is
/// capped and their effort lowered for big images, keeping the worst case to a few seconds of
/// one core.
extension ImageFormat {
    /// The longest side the encoder accepts.
    public var maxSide: Int {
        switch self {
        case .jpeg: 65_500
        case .webp: 16_383
        case .avif, .heic: 65_536
        case .gif: 65_535
        case .png, .tiff: Int(Int32.max)
        }
    }

    /// The most pixels we let an encoder that cannot be stopped take on (4096 × 4096), nil
    /// where the stop signal reaches the encoder. For an animation this is per frame: the
    /// stop signal ends the work between frames.
    public var maxUnstoppablePixels: Int? {
        switch self {
        case .webp, .avif, .heic, .gif: 4096 * 4096
        default: nil
        }
    }

    /// Why an output of `width` × `height` cannot be written in this format, or nil.
    public func sizeProblem(width: Int, height: Int) -> String? {
        if max(width, height) > maxSide {
            return "the output would be \(width)x\(height); \(displayName) images can be at most \(maxSide) pixels on a side"
        }
        if let cap = maxUnstoppablePixels, width * height > cap {
            return "the output would be \(width)x\(height) (\(PixelCount(width * height))); \(displayName) output is limited to \(PixelCount(cap))"
        }
        return nil
    }

    /// The encoder effort (libvips' 0-9 scale for WebP's method and AVIF's speed, 1-10 for GIF's
    /// quantiser) for an output of `pixels` (a frame's, for an animation): the default for
    /// avatars and thumbnails, less for big images, whose encode cannot be stopped part-way.
    /// GIF's default of 7 quantises a 128x128 frame in 25 ms where 4 takes 9 ms for a file 1.5 %
    /// larger.
    func effort(pixels: Int) -> Int {
        switch self {
        case .webp: pixels <= 4_000_000 ? 4 : pixels <= 8_000_000 ? 2 : 0
        case .avif, .heic: pixels <= 1_000_000 ? 4 : pixels <= 4_000_000 ? 2 : 0
        case .gif: pixels <= 1_000_000 ? 4 : 1
        default: 0
        }
    }
}

extension DecodeLimits {
    /// Why an image of `size` (in each of `frames` frames) may not be made, or nil.
    public static func sizeProblem(_ size: (width: Int, height: Int), frames: Int = 1, maxPixels: Int) -> String? {
        let total = size.width * size.height * frames
        guard total > maxPixels else { return nil }
        if frames > 1 {
            return "the result would be \(frames) frames of \(size.width)x\(size.height) (\(PixelCount(total)) in all); the limit is \(PixelCount(maxPixels))"
        }
        return "the result would be \(size.width)x\(size.height) (\(PixelCount(total))); the limit is \(PixelCount(maxPixels))"
    }
}

extension Pipeline {
    /// The size of each operation's result where the operations alone decide it (nil where it
    /// depends on the image).
    var knownSizes: [(width: Int, height: Int)?] {
        var size: (width: Int, height: Int)?
        return operations.map { operation in
            switch operation {
            case .smartCrop(let s):
                size = s.mode == .trim ? nil : s.outputSize
            case .resize(let r):
                if let w = r.width, let h = r.height, r.fit != .inside, r.fit != .outside { size = (w, h) } else { size = nil }
            case .crop(let c):
                if let rect = c.rect { size = (rect.width, rect.height) } else if let w = c.width, let h = c.height { size = (w, h) }
            case .trim:
                size = nil
            case .rotate(let turns):
                if turns % 2 == 1, let s = size { size = (s.height, s.width) }
            case .pad(let p):
                if let s = size { size = (s.width + p.left + p.right, s.height + p.top + p.bottom) }
            case .sharpen, .blur, .flip, .convert:
                break
            }
            return size
        }
    }

    /// Refuses, before any decode, a pipeline whose result could never be made: a step over
    /// the pixel limit, or an output its format cannot hold.
    func checkSizes(maxPixels: Int, path: String) throws {
        let sizes = knownSizes
        for (index, size) in sizes.enumerated() {
            guard let size, let problem = DecodeLimits.sizeProblem(size, maxPixels: maxPixels) else { continue }
            throw SmartCropError.invalidArgument(field: "\(path)[\(index)]" + Self.sizeField(operations[index]), message: problem)
        }
        if case .convert(let convert)? = operations.last, let size = sizes.last ?? nil,
           let problem = convert.format.sizeProblem(width: size.width, height: size.height) {
            throw SmartCropError.invalidArgument(field: "\(path)[\(operations.count - 1)].format", message: problem)
        }
    }

    /// The field that set an operation's size, for errors.
    private static func sizeField(_ operation: ImageOperation) -> String {
        switch operation {
        case .smartCrop, .resize: ".width_in_px"
        case .crop(let c): c.rect == nil ? ".width" : ".rect"
        default: ""
        }
    }
}
