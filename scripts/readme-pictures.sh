#!/usr/bin/env bash
# The README's pictures of how `auto` treats faces, made with `--draw` from the sample photos
# (which the repository does not hold, so neither does it hold these): green faces steered the
# crop, grey ones were left out (the JSON says why), yellow is the crop.
#   readme-pictures.sh SMARTCROP SAMPLES_DIR OUT_DIR [SUBJECT_MODEL]
set -euo pipefail
bin=$1 samples=$2 out=$3 subject=${4:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)  # vipsthumbnail writes -o relative to its input
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
model=()
if [ -n "$subject" ] && [ -f "$subject" ]; then model=(--subject-model "$subject"); fi

# Case 3's photo: two small faces (the astronaut's head, 64 px tall) in the top corners of a
# photo whose subject is a cat, the way an audience sits behind someone else's subject.
vips resize "$samples/chelsea.png" "$work/cat.v" 2
vips extract_area "$samples/astronaut.png" "$work/head.v" 140 20 170 200
vips resize "$work/head.v" "$work/small-head.v" 0.32
vips insert "$work/cat.v" "$work/small-head.v" "$work/one.v" 20 20
vips insert "$work/one.v" "$work/small-head.v" "$work/background-faces.png" 820 30

# name  photo  size  face detector (MTCNN is the embedded one; FACE_MODEL picks YuNet)
while read -r name photo size detector; do
  args=(crop "$photo" --size "$size" --json --draw "$work/$name.png" "${model[@]}")
  if [ "$detector" = mtcnn ]; then
    env -u SMARTCROP_FACE_MODEL "$bin" "${args[@]}" > "$out/$name.json"
  else
    "$bin" "${args[@]}" > "$out/$name.json"
  fi
  vipsthumbnail "$work/$name.png" -s 480x480 -o "$out/$name.webp[Q=75,strip]"
  printf '%-18s %s\n' "$name" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["strategy"], d["crop"], "used", d.get("used_faces", []), "left out", [f["reason"] for f in d.get("left_out_faces", [])])' "$out/$name.json")"
done <<LIST
faces-and-subject $samples/astronaut.png 1080x1920 default
unsure-face $samples/motorcycle_left.png 1200x630 mtcnn
background-faces $work/background-faces.png 1080x1920 default
no-face $samples/coffee.png 1200x630 default
LIST
echo "pictures in $out"
