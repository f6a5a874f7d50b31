# Proof of the hardening (issue 12): `make fuzz` and `make soak`, neither part of `make test`.
FUZZ_DIR        := $(ASSETS)/fuzz
FUZZ_CORPUS     := $(FUZZ_DIR)/corpus
SERVER_BIN      := .build/release/smartcrop-server
FUZZ_ARGS       ?=
SOAK_ARGS       ?=

.PHONY: fuzz fuzz-corpus soak soak-replay

# The hostile corpus (truncations, bit flips, huge headers, bombs, wrong magic, SVG, zero bytes,
# JSON operation lists), made from the sample photos with the vips command; fixed seeds, so the
# same bytes every time. Remade only when the generator changes.
fuzz-corpus: $(FUZZ_CORPUS)/.complete
$(FUZZ_CORPUS)/.complete: tools/fuzz/make_corpus.py | samples bench-deps
	python3 tools/fuzz/make_corpus.py --samples $(SAMPLES) --out $(FUZZ_CORPUS)

# Every corpus file through the release CLI (timeout 30 s each) and a sample of them through the
# release server; prints per class ok / clean error / crash / hang / 500 / leaky and peak RSS,
# and fails on any crash, hang, 500, leaky message or peak RSS of 1 GiB. FUZZ_ARGS="--limit 20"
# for a quick run, "--only svg,empty", "--cli" or "--server" for a part.
fuzz: build samples bench-deps fuzz-corpus
	python3 tools/fuzz/run_fuzz.py --corpus $(FUZZ_CORPUS) --cli-bin $(RELEASE_BIN) --server-bin $(SERVER_BIN) $(FUZZ_ARGS)

# 10 minutes of mixed normal and hostile requests (20 %) against the release server on loopback,
# with clients that disconnect or send slowly; fails on RSS growth of 10 % after the warm-up, any
# 500, or /readyz not back within 5 s of the load stopping. SOAK_ARGS="--seconds 120 --warmup 30".
soak: build samples bench-deps fuzz-corpus soak-replay
	python3 tools/soak/soak.py --server-bin $(SERVER_BIN) --corpus $(FUZZ_CORPUS) --samples $(SAMPLES) $(SOAK_ARGS)

# The server's steady memory: about 600 real files of many sizes and formats (../shared/eval's
# photos when that folder is there, and the samples written at 1-12 MP as JPEG, PNG, WebP, AVIF,
# HEIC and TIFF) replayed through /v1/transform 6 times with 2 workers, with glibc's default
# malloc arenas and with the server's own cap; fails above 300 MB steady with the server's.
# REPLAY_ARGS="--passes 3" for a quick run.
REPLAY_ARGS ?=
soak-replay: build samples bench-deps
	python3 tools/soak/replay.py --compare --server-bin $(SERVER_BIN) --samples $(SAMPLES) $(REPLAY_ARGS)
