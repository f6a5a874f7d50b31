// Saliency: where the subject of a photo is when there is no face to go by.
//
// Pure Swift, no I/O and no libvips. The pipeline hands over a small proxy of the photo
// (about 256 px on its longest side, interleaved 8-bit RGB) and gets back
//
//   ImportanceMapBuilder.build(...)  -> ImportanceMap    what matters where (0...1 per cell)
//   SubjectLocator.bestWindow(...)   -> SubjectWindow    where a crop of a given aspect should go
//   SubjectWindow.pixelRect(...)     -> SubjectPixelRect that window in source pixels
//
// With a U-2-Netp model file, SubjectModel (on the Inference runtime) makes the map instead:
// the network's salient-object mask for the photo stretched to a square, mapped back to the
// photo's aspect (SubjectModel.swift). The heuristic below is the fallback without one.
//
// The heuristic map combines three cheap, explainable cues measured at about 128 px:
//
//   surroundedness  minimum-barrier distance of each cell to the image border: how high a
//                   colour "wall" any path to the border has to climb. Objects are enclosed by
//                   their background, backgrounds reach the border. (Zhang et al., "Minimum
//                   Barrier Salient Object Detection at 80 FPS", ICCV 2015.)
//   border contrast Lab distance to the nearest of eight colours clustered from the border band,
//                   which catches background seen through gaps that surroundedness misses.
//   skin            a soft skin-tone likelihood, counted only where the cell also stands out.
//
// The weighted sum is normalised and cubed, so that the window search favours the few cells
// that clearly stand out over large areas of mild texture. A uniform frame or letterbox is
// recognised and ignored. See ImportanceMapBuilder.Options for the parameters and their reasons.
//
// The window is placed where it holds the most importance mass, found exhaustively with a
// summed-area table over every position of the target aspect (and every scale, when zoom is
// allowed), with a soft margin so that a window holding the subject with room to spare beats
// one that only just touches it. Nothing depends on the output pixel size, only on the aspect.
