# The one test command: what CI runs and what a new user runs.
GO ?= go

.PHONY: test test-cluster build vet generate check-generate e2e bench bench-smoke clean

test: vet
	$(GO) test -race -count=1 ./...

# The cluster suite (cluster/clustertest): a three-node cluster behind nginx with its own
# NATS and Redis on dedicated ports (the tests stop and restart them), PostgreSQL shared.
CLUSTER_ENV = ONSTAGE_CLUSTER_DIR=$${TMPDIR:-/tmp}/onstage-cluster-test \
	ONSTAGE_CLUSTER_LB_PORT=18080 ONSTAGE_CLUSTER_HTTP_PORT=18081 ONSTAGE_CLUSTER_UDP_BASE=41000 \
	ONSTAGE_CLUSTER_NATS_PORT=14222 ONSTAGE_CLUSTER_REDIS_PORT=16379 ONSTAGE_CLUSTER_REDIS_DB=0 \
	ONSTAGE_CLUSTER_PG_DB=onstage_cluster_test ONSTAGE_CLUSTER_DRAIN_TIMEOUT=8s

test-cluster:
	$(CLUSTER_ENV) bash scripts/cluster.sh up
	$(CLUSTER_ENV) $(GO) test -tags cluster -race -count=1 -timeout 15m ./cluster/... ; \
		rc=$$?; $(CLUSTER_ENV) bash scripts/cluster.sh down; exit $$rc

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

# About 10 minutes: three onstage/bare-Pion pairs of livestream 1→10, 1→50 and audio 5→50,
# meeting 4×4, then the overload run, livestream 1→200 with --baseline (BENCH_OVERLOAD=0 skips
# it); ends with the medians, the memory slope, system calls per packet, and whether the
# overload run held its bound (video p99 < 400 ms, loss < 1% after NACK recovery).
bench:
	bash cmd/onstage-load/bench.sh

# The load generator's 10-second smoke run (CI).
bench-smoke:
	BENCH_SMOKE=1 bash cmd/onstage-load/bench.sh

clean:
	rm -rf bin
