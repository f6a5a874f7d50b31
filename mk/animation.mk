# Animations (issue 26): `make bench` crops a 100-frame 480x480 animated WebP (a pan across a
# sample photo, made by bench/make_animation.py) to a 128x128 animation, smart crop included,
# against libvips' own animated thumbnail of the same file.
ANIM_WEBP := $(BENCH_DIR)/anim-480.webp
ANIM_GIF  := $(BENCH_DIR)/anim-480.gif

.PHONY: animation-bench
BENCH_DEPS += animation-bench

$(ANIM_WEBP): bench/make_animation.py | samples bench-deps
	@mkdir -p $(BENCH_DIR)
	python3 bench/make_animation.py $(SAMPLES)/astronaut.png $(ANIM_WEBP) $(ANIM_GIF)

# The reference is `vips thumbnail` with n=-1 and no crop: this libvips (8.14) writes a still when
# thumbnail crops an animation, and on a square source the uncropped thumbnail is the centre crop.
animation-bench: build bench-deps $(ANIM_WEBP)
	@echo "== animated WebP, 100 frames of 480x480 to a 128x128 animation (smart crop, faces included), vs vips thumbnail n=-1 =="
	@python3 bench/cli_bench.py --case animation-128 --target-time 1.5 --share analyse \
	  '$(RELEASE_BIN) crop $(ANIM_WEBP) --size 128x128 -o $(BENCH_DIR)/anim-ours.webp --json' \
	  'vips thumbnail $(ANIM_WEBP)[n=-1] $(CURDIR)/$(BENCH_DIR)/anim-ref.webp[Q=85] 128 --height 128'
	@$(RELEASE_BIN) crop $(ANIM_GIF) --size 128x128 -o $(BENCH_DIR)/anim-ours.gif >/dev/null
	@echo "animation-128 GIF: source $$(stat -c %s $(ANIM_GIF)) bytes (480x480), output $$(stat -c %s $(BENCH_DIR)/anim-ours.gif) bytes (128x128, 100 frames)"
