# nfx: the two set-up commands of the README, and their parts.
.PHONY: demo test deps k8s-tools lint pulumi nfx fuzz bench

# The main job, offline on the repository's defaults: render and plan the laptop stage.
demo: nfx
	./bin/nfx render --stage laptop
	./bin/nfx plan --stage laptop

# Every test, with the programs they run installed and the pinned Pulumi CLI
# built first; a test that needs an outside tool fails instead of skipping.
test: deps pulumi k8s-tools lint
	NFX_REQUIRE_TOOLS=1 PATH="$(CURDIR)/bin:$$PATH:/usr/sbin" go test -count=1 ./...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./...

nfx:
	go build -o bin/nfx ./cmd/nfx

pulumi:
	scripts/build-pulumi.sh

# kubeconform, kube-score and the strict Kubernetes schemas, into bin/.
k8s-tools:
	scripts/build-k8s-tools.sh

# nginx, Redis and Sentinel, PostgreSQL, shellcheck and the docker client,
# from Debian's packages, where missing.
deps:
	scripts/install-test-deps.sh

fuzz:
	go test ./internal/model -run '^$$' -fuzz FuzzStackFile -fuzztime 60s
	go test ./internal/capacity -run '^$$' -fuzz FuzzCompute -fuzztime 60s

bench:
	go test ./internal/offline -run '^$$' -bench . -count 10
