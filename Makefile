# tokentrail — common tasks. `make test` is what CI runs (.ci/run).

GO        ?= go
TIMEOUT   ?= 10m
BENCHTIME ?= 1s

.PHONY: all build test bench lint fmt

all: build

## build: compile every package and the tokentrail command into ./bin
build:
	$(GO) build ./...
	$(GO) build -o bin/tokentrail ./app/cmd/tokentrail

## test: vet, then run every test (the end-to-end and README tests build and run the binary)
test:
	$(GO) vet ./...
	$(GO) test -timeout $(TIMEOUT) ./...

## bench: run the benchmarks, no tests
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout $(TIMEOUT) ./...

## lint: fail on unformatted files, then vet
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## fmt: format every Go file
fmt:
	gofmt -w $$(git ls-files '*.go')
