import Saliency

/// Where a crop of a given aspect goes when there are faces: pure geometry, in the pixels of
/// the frame the faces were found in (the oriented source).
///
/// Two behaviours:
/// - **Position only** (no preset): the crop is the largest one of the target aspect, placed so
///   the faces are inside.
/// - **Framing** (a preset): the crop is zoomed so the face fills a set share of its height,
///   with the eye line 40 % from the top.
///
/// Which faces count: a face is *significant* when its size (√(w·h)) is at least a quarter of
/// the largest face's, so background crowds don't drag the crop. The crop is built around the
/// faces the policy names (all significant faces, the largest, or one by index). When those
/// can't fit together, the crop keeps the largest and, among the positions that do, the one
/// that holds the most face area whole. Faces are never cut at an edge when moving the crop
/// can avoid it, and no single point decides: every candidate position is scored on all faces.
public enum FaceFraming {
    /// Share of the crop height the face fills, per preset (face box height / crop height).
    public static func faceShare(_ preset: FacePreset) -> Double {
        switch preset {
        case .closeup: 0.55
        case .headShoulders: 0.33
        case .upperBody: 0.22
        case .halfBody: 0.15
        }
    }

    /// Where the eye line sits, as a share of the crop height from the top.
    public static let eyeLine = 0.40
    /// A face smaller than this share of the largest face's size is background.
    public static let significance = 0.25
    /// Where eyes sit inside a face box when the detector gives no landmarks.
    static let eyesInBox = 0.42
    public struct Face: Sendable, Hashable {
        public var rect: Rect
        /// The eye line (mean of the two eye landmarks), when known.
        public var eyeY: Double?
        /// Detector confidence, 0-1.
        public var score: Double

        public init(rect: Rect, eyeY: Double? = nil, score: Double = 1) {
            self.rect = rect
            self.eyeY = eyeY
            self.score = score
        }

        var size: Double { rect.area.squareRoot() }
        var eyes: Double { eyeY ?? rect.y + rect.height * FaceFraming.eyesInBox }
    }

    public struct Request: Sendable {
        public var frameWidth: Int
        public var frameHeight: Int
        /// The output's aspect ratio, as its size.
        public var targetWidth: Int
        public var targetHeight: Int
        public var faces: [Face]
        public var policy: FacePolicy
        /// nil: position only.
        public var preset: FacePreset?
        /// 0-50 % extra room around the faces.
        public var padding: Double
        /// The subject's importance map, when the faces are constraints and the subject the
        /// objective: among the positions that hold the faces, the one holding the most of it.
        public var subject: ImportanceMap?
        /// The subject was not looked at because `subjectCanMove` said it could not move the crop:
        /// the faces are framed as they would be with one (with their room), only no map scores.
        public var subjectSkipped: Bool

        public init(frameWidth: Int, frameHeight: Int, targetWidth: Int, targetHeight: Int, faces: [Face],
                    policy: FacePolicy = .all, preset: FacePreset? = nil, padding: Double = 0, subject: ImportanceMap? = nil,
                    subjectSkipped: Bool = false) {
            self.subject = subject
            self.subjectSkipped = subjectSkipped
            self.frameWidth = frameWidth
            self.frameHeight = frameHeight
            self.targetWidth = targetWidth
            self.targetHeight = targetHeight
            self.faces = faces
            self.policy = policy
            self.preset = preset
            self.padding = padding
        }
    }

    public struct Result: Sendable, Hashable {
        public var rect: PixelRect
        /// Indices (into the request's faces) of the faces the crop was built around.
        public var focus: [Int]
        /// Indices of the significant faces.
        public var significant: [Int]
        /// The centre of the faces the crop was built around.
        public var focalPoint: Point
        /// Set when not every face in focus could be kept whole.
        public var note: String?
    }

    /// The indices of significant faces, largest first.
    public static func significantFaces(_ faces: [Face]) -> [Int] {
        guard let largest = faces.map(\.size).max(), largest > 0 else { return [] }
        return faces.indices.filter { faces[$0].size >= significance * largest }
            .sorted { faces[$0].size > faces[$1].size }
    }

    /// Lexicographic "better than" on candidate scores. Area sums that differ by under a square
    /// pixel are rounding noise (a face cut by the same amount at every position sums slightly
    /// differently at each), so they count as equal and the next term decides.
    static func outranks(_ a: [Double], _ b: [Double]) -> Bool {
        for (x, y) in zip(a, b) where abs(x - y) >= 1 {
            return x > y
        }
        guard let x = a.last, let y = b.last else { return false }
        return x > y
    }

    /// Faces under this share of the image's shorter side are people in a scene, not a portrait.
    public static let backgroundFaceSize = 0.1

    /// Whether the faces a framing kept are in the background of someone else's photo: all of
    /// them small (under `backgroundFaceSize`), and the crop around them holding less than half
    /// of the subject that the subject's own crop of the aspect holds, so the two cannot share
    /// a crop. Returns that share when so, else nil. Only for position-only framing with a subject.
    public static func backgroundShare(of framed: Result, for request: Request) -> Double? {
        guard request.preset == nil, let map = request.subject, !map.isFlat else { return nil }
        guard inBackground(framed.focus, of: request) else { return nil }
        let fw = Double(request.frameWidth), fh = Double(request.frameHeight)
        let window = framed.rect
        let (w, h) = (Double(window.width) / fw, Double(window.height) / fh)
        let mass = SubjectMass(map: map, windowWidth: w, windowHeight: h)
        let best = mass.bestShare(width: w, height: h)
        guard best > 0 else { return nil }
        let kept = mass.share(x: Double(window.x) / fw, y: Double(window.y) / fh, width: w, height: h) / best
        return kept < 0.5 ? kept : nil
    }

    /// Whether a subject map could move this crop by a pixel of the output or more, decided from
    /// the faces and the crop's geometry alone, before anything looks at the subject. It cannot
    /// when one face is too big for the crop (the crop is then placed by the eye line), or when
    /// every position that holds the faces with their room lies within a pixel of the output of
    /// the others: a headshot in a square, a face that fills the crop. Small faces are the
    /// exception: the subject may outweigh them (`backgroundShare`), which it can wherever the
    /// crop has somewhere else to go. Only `auto`'s composition (no preset needed) asks this;
    /// when the answer is no, `frame` with `subjectSkipped` gives the faces the same room and the
    /// same place as any subject map would.
    public static func subjectCanMove(_ request: Request) -> Bool {
        var pending = request
        pending.subject = nil
        pending.subjectSkipped = true
        guard let layout = layout(pending), layout.composing else { return false }
        let pixelX = layout.width / Double(request.targetWidth), pixelY = layout.height / Double(request.targetHeight)
        if layout.xs.upperBound - layout.xs.lowerBound >= pixelX || layout.ys.upperBound - layout.ys.lowerBound >= pixelY {
            return true
        }
        return request.preset == nil && inBackground(layout.focus, of: request)
            && (Double(request.frameWidth) - layout.width >= pixelX || Double(request.frameHeight) - layout.height >= pixelY)
    }

    /// Whether all these faces are under `backgroundFaceSize`: people in a scene, whom the subject may outweigh.
    static func inBackground(_ faces: [Int], of request: Request) -> Bool {
        let shorter = Double(min(request.frameWidth, request.frameHeight))
        return faces.allSatisfy { request.faces[$0].size < backgroundFaceSize * shorter }
    }

    /// The crop's size and the positions it may take, before they are scored.
    private struct Layout {
        var focus: [Int]
        var significant: [Int]
        var union: Rect
        var width: Double
        var height: Double
        var largestCrop: (width: Int, height: Int)
        /// Where the crop would ideally sit.
        var desired: Point
        /// Whether the faces are constraints with room around them and a subject the objective.
        var composing: Bool
        /// The subject's mass, when a map takes part.
        var subject: SubjectMass?
        /// Positions that give the faces room, when that is a preference rather than a constraint.
        var roomy: Rect?
        /// The crop's possible left and top edges.
        var xs: ClosedRange<Double>
        var ys: ClosedRange<Double>
        var note: String?
    }

    /// Nil when there is no face to frame.
    private static func layout(_ request: Request) -> Layout? {
        let significant = significantFaces(request.faces)
        guard let largest = significant.first else { return nil }
        var note: String?
        let focus: [Int]
        switch request.policy {
        case .all: focus = significant
        case .largest: focus = [largest]
        case .index(let n):
            if request.faces.indices.contains(n) {
                focus = [n]
            } else {
                focus = [largest]
                note = "there is no face \(n); framed the largest"
            }
        }
        let faces = request.faces
        let union = focus.dropFirst().reduce(faces[focus[0]].rect) { $0.union(faces[$1].rect) }
        let main = focus.max { faces[$0].size < faces[$1].size }!
        let frame = Rect(x: 0, y: 0, width: Double(request.frameWidth), height: Double(request.frameHeight))
        let aspect = Double(request.targetWidth) / Double(request.targetHeight)
        let largestCrop = AspectFit.largestCrop(width: request.frameWidth, height: request.frameHeight,
                                                targetWidth: request.targetWidth, targetHeight: request.targetHeight)
        let room = 1 + request.padding / 100

        // The crop's size.
        var height: Double
        if let preset = request.preset {
            height = faces[main].rect.height / faceShare(preset) * room
            if focus.count > 1 {
                // A group must fit too, with a quarter of a face of room on every side.
                let margin = faces[main].rect.height * 0.25
                let needed = max((union.width + 2 * margin) / aspect, union.height + 2 * margin) * room
                height = max(height, needed)
            }
            height = min(height, Double(largestCrop.height))
        } else {
            height = Double(largestCrop.height)
        }
        var width = height * aspect
        if width > Double(largestCrop.width) {
            width = Double(largestCrop.width)
            height = width / aspect
        }

        // Where the crop would ideally sit: centred on the faces across, eye line at 40 %.
        let eyes = focus.map { faces[$0].eyes }.reduce(0, +) / Double(focus.count)
        let desired = Point(x: union.midX - width / 2, y: eyes - eyeLine * height)

        // The crop must hold the faces in focus, or at least the main one when they don't fit.
        let padded = union.insetBy(dx: -union.width * request.padding / 200, dy: -union.height * request.padding / 200)
        let fits = union.width <= width && union.height <= height
        // The subject only chooses among positions that hold the faces in focus whole (or the
        // main one, when they do not fit together); a face too big for the crop is placed by
        // its eye line, as without a subject.
        let held = fits ? union : faces[main].rect
        let mapped = request.subject.flatMap { $0.isFlat ? nil : $0 }
        let composing = held.width <= width && held.height <= height && (mapped != nil || request.subjectSkipped)
        let subject = composing ? mapped.map {
            SubjectMass(map: $0, windowWidth: width / frame.width, windowHeight: height / frame.height)
        } : nil
        var anchor = fits ? (padded.width <= width && padded.height <= height ? padded : union) : faces[main].rect
        // Positions that give the faces room; nil when every position considered does.
        var roomy: Rect?
        if composing {
            // The subject may pull the crop anywhere the faces stay inside, but not onto them.
            // The room is the head around the box: a detector's box runs from the brows to the
            // chin, and the hair goes on for about half a box above it (the neck as far below);
            // across, ears and hair make a head about one and a half boxes wide. So half a face
            // height above and below, a quarter of its width either side, or as much as there
            // is. More room across than the head needs would pin a large face to the crop's
            // centre and cut a face beside it that moving the crop keeps whole.
            let head = faces[main].rect
            let mx = min(head.width * 0.25, max(0, (width - anchor.width) / 2))
            let my = min(head.height * 0.5, max(0, (height - anchor.height) / 2))
            let withRoom = anchor.insetBy(dx: -mx, dy: -my).intersection(frame) ?? anchor
            // When the faces do not fit together, the room around the main face must not cost
            // another face its chin: the room is then a preference, ranked below whole
            // significant faces and above everything else.
            if fits { anchor = withRoom } else { roomy = withRoom }
        }
        if !fits { note = note ?? "the \(focus.count) faces do not fit together; kept the largest" }
        func range(_ lo: Double, _ hi: Double, _ anchorLo: Double, _ anchorHi: Double, _ length: Double) -> ClosedRange<Double> {
            // Positions that keep the crop inside [lo, hi] and hold [anchorLo, anchorHi]; when
            // the anchor is the longer one, positions that stay within it (holding the most of it).
            var from = max(lo, anchorHi - length), to = min(hi - length, anchorLo)
            if anchorHi - anchorLo > length {
                (from, to) = (max(lo, anchorLo), min(hi - length, anchorHi - length))
            }
            return from <= to ? from...to : min(max(from, lo), hi - length)...min(max(from, lo), hi - length)
        }
        return Layout(focus: focus, significant: significant, union: union, width: width, height: height,
                      largestCrop: largestCrop, desired: desired, composing: composing, subject: subject, roomy: roomy,
                      xs: range(frame.x, frame.maxX, anchor.x, anchor.maxX, width),
                      ys: range(frame.y, frame.maxY, anchor.y, anchor.maxY, height), note: note)
    }

    /// Nil when there is no face to frame.
    public static func frame(_ request: Request) -> Result? {
        guard let layout = layout(request) else { return nil }
        let faces = request.faces
        let frame = Rect(x: 0, y: 0, width: Double(request.frameWidth), height: Double(request.frameHeight))
        let (width, height, desired) = (layout.width, layout.height, layout.desired)
        let aspect = Double(request.targetWidth) / Double(request.targetHeight)
        let (subject, roomy, xs, ys) = (layout.subject, layout.roomy, layout.xs, layout.ys)
        let largestCrop = layout.largestCrop

        // Every position where a crop edge meets a face edge, plus the ideal one; each is
        // scored on all faces, so no single point decides.
        func candidates(_ r: ClosedRange<Double>, ideal: Double, edges: [(Double, Double)], length: Double) -> [Double] {
            var values = [min(max(ideal, r.lowerBound), r.upperBound), r.lowerBound, r.upperBound]
            if subject != nil, r.upperBound > r.lowerBound {
                // The subject varies smoothly: 1/48 of the range is finer than its map's cells.
                let steps = 48
                for k in 1..<steps { values.append(r.lowerBound + (r.upperBound - r.lowerBound) * Double(k) / Double(steps)) }
            }
            for (lo, hi) in edges {
                for v in [lo, hi - length, lo - 1, hi + 1 - length] where r.contains(v) { values.append(v) }
            }
            return values
        }
        // The room's own edges, so the positions that give it are among those scored.
        let roomEdges = roomy.map { (x: [($0.x, $0.maxX)], y: [($0.y, $0.maxY)]) } ?? (x: [], y: [])
        let considered = Array(faces.indices.sorted { faces[$0].size > faces[$1].size }.prefix(64))
        let xCandidates = candidates(xs, ideal: desired.x, edges: considered.map { (faces[$0].rect.x, faces[$0].rect.maxX) } + roomEdges.x,
                                     length: width)
        let yCandidates = candidates(ys, ideal: desired.y, edges: considered.map { (faces[$0].rect.y, faces[$0].rect.maxY) } + roomEdges.y,
                                     length: height)
        let significantSet = Set(layout.significant)
        var best: (score: [Double], rect: Rect)?
        for x in xCandidates {
            for y in yCandidates {
                let crop = Rect(x: x, y: y, width: width, height: height)
                var wholeSignificant = 0.0, cut = 0.0, wholeOther = 0.0
                for i in considered {
                    let f = faces[i].rect
                    let inside = f.fractionInside(crop)
                    if inside >= 0.95 {
                        if significantSet.contains(i) { wholeSignificant += f.area } else { wholeOther += f.area }
                    } else if inside > 0.05 {
                        cut += f.area * min(inside, 1 - inside)
                    }
                }
                let distance = abs(x - desired.x) + abs(y - desired.y)
                // Per mille of the subject: differences under one count as equal (see outranks).
                let share = subject.map {
                    1000 * $0.share(x: x / frame.width, y: y / frame.height, width: width / frame.width, height: height / frame.height)
                } ?? 0
                let room: Double = roomy.map { crop.contains($0, tolerance: 0.5) ? 1 : 0 } ?? 1
                let score = [wholeSignificant, room, -cut, wholeOther, share, -distance]
                if let current = best?.score, !Self.outranks(score, current) { continue }
                best = (score, crop)
            }
        }
        let chosen = best!.rect
        var h = min(max(Int(chosen.height.rounded()), 1), request.frameHeight)
        var w = min(max(Int((Double(h) * aspect).rounded()), 1), request.frameWidth)
        if abs(chosen.width - Double(largestCrop.width)) < 1, abs(chosen.height - Double(largestCrop.height)) < 1 {
            (w, h) = largestCrop  // exactly the largest crop, rounded as everywhere else
        }
        let rect = Rect(x: chosen.midX - Double(w) / 2, y: chosen.midY - Double(h) / 2, width: Double(w), height: Double(h))
            .pixelRect(within: request.frameWidth, request.frameHeight)
        return Result(rect: rect, focus: layout.focus, significant: layout.significant,
                      focalPoint: Point(x: layout.union.midX, y: layout.union.midY), note: layout.note)
    }
}
