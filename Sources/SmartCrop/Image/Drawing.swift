import CVips
import CVipsShim

extension Image {
    /// A copy of the image with rectangles drawn on it, for `--draw` debugging output.
    /// Thick outlines are drawn as nested one-pixel outlines.
    public func drawing(_ shapes: [DrawnRect]) throws -> Image {
        var canvas = try toSRGB()
        if canvas.bands < 3 { canvas = try Image.fromPixels(try canvas.rgbBytes(), width: width, height: height, bands: 3) }
        canvas = try canvas.materialised()
        for shape in shapes {
            let ink = shape.colour.ink(bands: canvas.bands)
            for inset in 0..<max(shape.thickness, 1) {
                let r = PixelRect(x: shape.rect.x + inset, y: shape.rect.y + inset,
                                  width: shape.rect.width - 2 * inset, height: shape.rect.height - 2 * inset)
                guard r.width > 0, r.height > 0 else { break }
                guard sc_draw_rect(canvas.pointer, ink, Int32(ink.count), Int32(r.x), Int32(r.y),
                                   Int32(r.width), Int32(r.height), shape.filled ? 1 : 0) == 0 else {
                    throw SmartCropError.processing(operation: "draw_rect", message: Vips.takeError())
                }
                if shape.filled { break }
            }
        }
        return canvas
    }
}

public struct DrawnRect: Sendable {
    public var rect: PixelRect
    public var colour: Colour
    public var thickness: Int
    public var filled: Bool

    public init(rect: PixelRect, colour: Colour, thickness: Int = 2, filled: Bool = false) {
        self.rect = rect
        self.colour = colour
        self.thickness = thickness
        self.filled = filled
    }
}
