# The HTTP service (`smartcrop serve`): what its tests need, and `make loadtest`.
TEST_VENV     := .venv-test
TEST_VENV_REQ := Tests/ServerTests/browser/requirements.txt
LOADTEST_JPEG := $(BENCH_DIR)/2mp.jpg
LOADBENCH_BIN := .build/release/LoadBench

.PHONY: server-test-deps loadtest server-build cluster-test

# `smartcrop serve` execs smartcrop-server from its own folder, so `make build` builds both.
build: server-build
server-build: deps models
	swift build $(RELEASE_FLAGS) --product smartcrop-server $(SWIFT_FLAGS)

# ServerTests validate the OpenAPI document and drive the playground in headless Chromium;
# they find the venv through SMARTCROP_TEST_VENV and skip only when run by hand without it.
TEST_DEPS += server-test-deps
export SMARTCROP_TEST_VENV := $(CURDIR)/$(TEST_VENV)

server-test-deps: $(TEST_VENV)/.installed
	@scripts/apt-ensure.sh chromium:command\ -v\ chromium chromium-driver:command\ -v\ chromedriver

$(TEST_VENV)/.installed: $(TEST_VENV_REQ)
	python3 -m venv $(TEST_VENV)
	$(TEST_VENV)/bin/pip install --quiet -r $(TEST_VENV_REQ)
	touch $@

# A 2 MP JPEG (1600x1250) with a face: the avatar workload of the load test.
$(LOADTEST_JPEG): samples bench-deps
	@mkdir -p $(BENCH_DIR)
	vips resize $(SAMPLES)/astronaut.png $(BENCH_DIR)/2mp.v 3.125 --vscale 2.44140625
	vips copy $(BENCH_DIR)/2mp.v $@[Q=90]
	rm -f $(BENCH_DIR)/2mp.v

# The release server under wrk (32 connections, 30 s, 2 MP JPEG to a 256 WebP avatar) against
# the same work in-process on the same cores; prints req/s, p50/p99, errors and peak RSS.
loadtest: build $(LOADTEST_JPEG)
	@scripts/apt-ensure.sh wrk:command\ -v\ wrk
	swift build $(RELEASE_FLAGS) --product LoadBench $(SWIFT_FLAGS)
	python3 bench/server/loadtest.py --server $(RELEASE_BIN) --bench $(LOADBENCH_BIN) --image $(LOADTEST_JPEG) \
	  --seconds 30 --connections 32

# Three release replicas behind haproxy (deploy/haproxy/haproxy.cfg), wrk through it for 30 s
# with signed GETs and POSTs, one replica killed with SIGKILL a third of the way in and brought
# back; prints req/s, p50/p99 and errors inside and outside the kill window (target: 0 outside),
# and a tool upload through one replica downloaded through another.
cluster-test: build samples
	@scripts/apt-ensure.sh haproxy:command\ -v\ haproxy wrk:command\ -v\ wrk
	python3 bench/server/cluster_test.py --server $(RELEASE_BIN) --samples $(SAMPLES) --seconds 30
