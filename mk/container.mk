# The container image and the Kubernetes manifests (deploy/container, deploy/kubernetes):
# `make image`, `make image-test` (run by `make test` where podman can be installed),
# `make image-loadtest`, and `make manifest-test` (part of `make test`).
IMAGE_NAME      ?= smartcrop
IMAGE_TAG       ?= $(shell sed -n 's/^public let smartcropVersion = "\(.*\)"$$/\1/p' Sources/SmartCrop/Version.swift)
IMAGE           ?= $(IMAGE_NAME):$(IMAGE_TAG)
CONTAINERFILE   := deploy/container/Containerfile
IMAGE_CONTEXT   := $(ASSETS)/container/context
BASE_IMAGE      := docker.io/library/debian:bookworm-slim
BASE_TARBALL    := $(ASSETS)/container/debian-bookworm-slim.tar
IMAGE_MODEL_DIR := /usr/local/share/smartcrop/models
IMAGE_MODELS    := FACE_MODEL=face_detection_yunet_2023mar.onnx SUBJECT_MODEL=u2netp.onnx
K8S_MANIFESTS   := deploy/kubernetes
K8S_VENV        := .venv-k8s
K8S_VENV_REQ    := tools/container/requirements.txt

# docker when a Docker engine answers, else podman (installed when missing). Decided on first use.
CONTAINER_ENGINE ?= $(eval CONTAINER_ENGINE := $(shell docker info >/dev/null 2>&1 && echo docker || echo podman))$(CONTAINER_ENGINE)
# podman reads its host fixes from here unless told otherwise (docker ignores it).
export CONTAINERS_CONF ?= $(CURDIR)/deploy/container/containers.conf
# podman writes OCI images unless told, and OCI has no HEALTHCHECK; it must use the local base.
ENGINE_BUILD_FLAGS = $(if $(filter podman,$(CONTAINER_ENGINE)),--format docker --pull=never)

.PHONY: container-deps image-context image-base image image-test image-test-if-installable image-loadtest manifest-test

container-deps:
	@if [ "$(CONTAINER_ENGINE)" = podman ]; then \
	  scripts/apt-ensure.sh podman:command\ -v\ podman runc:command\ -v\ runc; fi

# What the image build reads, and nothing else: stripped copies of the release binaries (the
# debug symbols are 95 MB of the server's 181 MB) and the models, when there are any.
image-context: build
	@rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/bin $(IMAGE_CONTEXT)/models
	strip --strip-all -o $(IMAGE_CONTEXT)/bin/smartcrop $(RELEASE_BIN)
	strip --strip-all -o $(IMAGE_CONTEXT)/bin/smartcrop-server $(dir $(RELEASE_BIN))smartcrop-server
	@for pair in $(IMAGE_MODELS); do model=$${pair#*=}; \
	  for dir in $(MODELS_DIR) $(MODELS_FROM); do \
	    if [ -f "$$dir/$$model" ]; then cp "$$dir/$$model" $(IMAGE_CONTEXT)/models/ && echo "model: $$dir/$$model"; break; fi; \
	  done; \
	  [ -f $(IMAGE_CONTEXT)/models/$$model ] || echo "model: no $$model in $(MODELS_DIR) $(MODELS_FROM);" \
	    "the image will use $$( [ $${pair%%=*} = FACE_MODEL ] && echo 'the embedded MTCNN for faces' || echo 'the heuristic subject map')"; \
	done

# debian:bookworm-slim from a registry, or, where none answers, made here with mmdebstrap.
image-base: container-deps
	@if $(CONTAINER_ENGINE) image inspect $(BASE_IMAGE) >/dev/null 2>&1; then exit 0; fi; \
	if $(CONTAINER_ENGINE) pull -q $(BASE_IMAGE) >/dev/null 2>&1; then echo "pulled $(BASE_IMAGE)"; exit 0; fi; \
	echo "$(BASE_IMAGE) is not here and no registry answers: making it with mmdebstrap"; \
	scripts/apt-ensure.sh mmdebstrap:command\ -v\ mmdebstrap && scripts/make-debian-base.sh $(CONTAINER_ENGINE) $(BASE_TARBALL) $(BASE_IMAGE)

image: image-context image-base
	@models=""; for pair in $(IMAGE_MODELS); do model=$${pair#*=}; \
	  if [ -f $(IMAGE_CONTEXT)/models/$$model ]; then path=$(IMAGE_MODEL_DIR)/$$model; else path=; fi; \
	  models="$$models --build-arg $${pair%%=*}=$$path"; done; \
	set -x; $(CONTAINER_ENGINE) build $(ENGINE_BUILD_FLAGS) -f $(CONTAINERFILE) -t $(IMAGE) $$models $(IMAGE_CONTEXT)
	@size=$$($(CONTAINER_ENGINE) image inspect --format '{{.Size}}' $(IMAGE)); \
	echo "built $(IMAGE) with $(CONTAINER_ENGINE): $$((size / 1000000)) MB"

# The image as a deployment runs it (read-only root, tmpfs /tmp, non-root, published loopback
# port, the Deployment's settings): a face crop, a signed local:/// GET signed by the image's
# own CLI, the CLI on a mounted folder in every input format, the health check, the batch Job's
# command shard by shard, memory under load against the Deployment's limit, and SIGTERM with
# requests in flight.
image-test: image samples bench-deps $(BIG_JPEG) $(K8S_VENV)/.installed
	$(K8S_VENV)/bin/python tools/container/image_test.py --engine $(CONTAINER_ENGINE) --image $(IMAGE) --samples $(SAMPLES) \
	  --big-jpeg $(BIG_JPEG) --manifests $(K8S_MANIFESTS)

# `make test` runs image-test where podman (or a Docker engine) can be had.
image-test-if-installable:
	@sudo=""; [ "$$(id -u)" -ne 0 ] && sudo=sudo; \
	if command -v podman >/dev/null || docker info >/dev/null 2>&1 || { command -v apt-get >/dev/null && \
	     { apt-cache show podman >/dev/null 2>&1 || { $$sudo apt-get update -qq && apt-cache show podman >/dev/null 2>&1; }; }; }; then \
	  $(MAKE) --no-print-directory image-test; \
	else echo "image-test: skipped: no container engine here, and apt-get has no podman to install"; fi

# The image's server through its published port against the same binary outside the
# container, under the same wrk load as `make loadtest`.
image-loadtest: image
	@$(MAKE) --no-print-directory $(LOADTEST_JPEG)
	@scripts/apt-ensure.sh wrk:command\ -v\ wrk
	python3 tools/container/image_loadtest.py --engine $(CONTAINER_ENGINE) --image $(IMAGE) \
	  --server $(IMAGE_CONTEXT)/bin/smartcrop-server --photo $(LOADTEST_JPEG) --seconds 30 --connections 32

# The manifests against the Kubernetes schemas (offline) and against the server's real settings,
# ports and probe paths (the debug server that `swift test` builds anyway).
TEST_DEPS += manifest-test
manifest-test: $(K8S_VENV)/.installed deps models
	@swift build $(SWIFT_FLAGS) --product smartcrop-server >/dev/null
	$(K8S_VENV)/bin/python tools/container/check_manifests.py --manifests $(K8S_MANIFESTS) --image $(IMAGE) \
	  --containerfile $(CONTAINERFILE) --server $$(swift build $(SWIFT_FLAGS) --show-bin-path)/smartcrop-server

$(K8S_VENV)/.installed: $(K8S_VENV_REQ)
	python3 -m venv $(K8S_VENV)
	$(K8S_VENV)/bin/pip install --quiet -r $(K8S_VENV_REQ)
	touch $@
