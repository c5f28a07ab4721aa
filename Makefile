# The one test command: what CI runs and what a new user runs.
GO ?= go

.PHONY: test build vet generate check-generate e2e bench bench-smoke clean

test: vet
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

build:
	$(GO) build -o bin/onstage ./cmd/onstage

generate:
	$(GO) generate ./...

# Fails when the committed wire_gen.go differs from what wire generates now.
check-generate:
	$(GO) generate ./cmd/onstage
	git diff --exit-code -- cmd/onstage/wire_gen.go

e2e:
	bash e2e/run.sh

# A ~60 s benchmark: livestream 1→50 (with the bare-Pion baseline) and meeting 4×4.
bench:
	bash cmd/onstage-load/bench.sh

# The load generator's 10-second smoke run (CI).
bench-smoke:
	BENCH_SMOKE=1 bash cmd/onstage-load/bench.sh

clean:
	rm -rf bin
