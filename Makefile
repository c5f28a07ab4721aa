# The one test command: what CI runs and what a new user runs.
GO ?= go

.PHONY: test build vet generate check-generate e2e bench clean

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

clean:
	rm -rf bin
