# tokentrail — common tasks. `make test` is what CI runs (.ci/run).

GO        ?= go
TIMEOUT   ?= 10m
BENCHTIME ?= 1s

.PHONY: all build test test-unit test-fabric test-fabric-bft test-consortium bench lint fmt web vuln

all: build

## build: compile every package and the tokentrail command into ./bin
build:
	$(GO) build ./...
	$(GO) build -o bin/tokentrail ./app/cmd/tokentrail

## test: vet, every unit and integration test, then the tests on a real Fabric network: Raft ordering, then SmartBFT
test: test-unit test-fabric test-fabric-bft

## test-unit: vet, then every test that needs no Fabric network (the end-to-end and README tests build and run the binary)
test-unit:
	$(GO) vet ./...
	$(GO) test -timeout $(TIMEOUT) ./...

## test-fabric: build Fabric if needed, bring a fresh network up, run the Fabric tests, take it down
test-fabric:
	scripts/test-fabric.sh

## test-fabric-bft: the same Fabric tests on a SmartBFT ordering service (four orderers, one per peer-running member);
## part of test since receipts verify BFT-signed blocks (3–4 min; docs/design/0020-smartbft-ordering.md)
test-fabric-bft:
	ORDERER_TYPE=bft scripts/test-fabric.sh

## test-consortium: the consortium tests on a fresh multi-host network (scripts/network.sh up --hosts: one network
## namespace per organisation, Toxiproxy between the hosts, SmartBFT), removed afterwards whatever happens; needs root
test-consortium:
	scripts/test-consortium.sh

## bench: run the benchmarks, no tests
bench:
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -timeout $(TIMEOUT) ./...

## vuln: govulncheck (pinned) against a vulnerability database built locally from golang.org/x/vulndb (pinned), cached in .cache/; fails on any vulnerability the code reaches (scripts/vuln.sh)
vuln:
	scripts/vuln.sh

## lint: fail on unformatted files, then vet
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

## web: rebuild the web console's embedded files (app/web/dist, committed) from app/web/src with the npm packages pinned in its package-lock.json
web:
	cd app/web && npm ci --no-audit --no-fund && npm run build

## fmt: format every Go file
fmt:
	gofmt -w $$(git ls-files '*.go')

## bench-load: HTTP load benchmarks with their ceilings (scripts/bench-load.sh; docs/benchmarks.md): the embedded ledger, then Fabric. Not part of test.
.PHONY: bench-load
bench-load:
	scripts/bench-load.sh embedded
	scripts/bench-load.sh fabric

## bench-immudb: the in-process write benchmarks beside immudb's embedded store on the same write sets, with the ratio (bench/immudb, its own module; docs/benchmarks.md). Not part of test.
.PHONY: bench-immudb
bench-immudb:
	cd bench/immudb && $(GO) run ./compare -root ../..

## soak: serve at half its measured capacity for SOAK_DURATION (default 30m), sampling latency and RSS each minute (scripts/soak.sh); not in CI
soak:
	scripts/soak.sh

FUZZTIME ?= 3m

## fuzz: run every fuzz target for FUZZTIME each (default 3m); new crashers land in testdata/fuzz; not in CI
fuzz:
	for t in FuzzPostBatches FuzzTradesBulk FuzzQueryParams FuzzWriteRoutes; do \
		$(GO) test ./app/api -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) || exit 1; done
	for t in FuzzWrite FuzzQuery; do \
		$(GO) test ./chaincode/contract -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) || exit 1; done

.PHONY: soak fuzz
