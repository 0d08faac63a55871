# nfx: the two set-up commands of the README, and their parts.
.PHONY: demo test tools test-swarm deps k8s-tools kube-tools ci-tools engine-tools lint pulumi language-host program nfx nfx-pulumi nfx-cloud fuzz bench

# The main job, offline on the repository's defaults: render and plan the laptop stage.
demo: nfx
	./bin/nfx render --stage laptop
	./bin/nfx plan --stage laptop

# Every test, with the programs they run installed and the pinned Pulumi CLI
# built first; a test that needs an outside tool fails instead of skipping.
# The tests run with a Docker engine of their own and a three-node Swarm
# (scripts/engine.sh), the stand-in images built into them, stopped at the
# end. The Swarm test runs last, alone: three daemons and forty containers
# share the machine's cores with no other test. Each part prints its time.
# A package may take 20 minutes (go test's default is 10): internal/cli's
# failovers wait on a real API server and kwok, 520 s of a run beside the
# other packages on this 2-core machine.
SWARM_TEST = TestServerServesOnSwarm
test: tools
	NFX_ENGINE_SWARM=1 scripts/engine.sh run env NFX_REQUIRE_TOOLS=1 PATH="$(CURDIR)/bin:$$PATH:/usr/sbin" \
	  bash -c 'SECONDS=0; go test -count=1 -timeout 20m -skip "^$(SWARM_TEST)$$" ./... && echo "make test: the tests but the Swarm one took $$SECONDS s" && \
	    SECONDS=0 && go test -count=1 -timeout 20m -run "^$(SWARM_TEST)$$" ./internal/cli && echo "make test: the Swarm test took $$SECONDS s"'

# The first part of make test: the programs and tools the tests run, each
# built once per content and reused by every checkout on the machine
# (scripts/tool-cache.sh), and the lint.
tools: deps pulumi language-host program nfx nfx-cloud k8s-tools kube-tools ci-tools engine-tools lint

# The server stage on the three-node Swarm alone.
test-swarm: deps pulumi language-host program engine-tools
	NFX_ENGINE_SWARM=1 scripts/engine.sh run env NFX_REQUIRE_TOOLS=1 PATH="$(CURDIR)/bin:$$PATH:/usr/sbin" go test -count=1 -run '^$(SWARM_TEST)$$' -v ./internal/cli

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./...
	go vet -tags nfxfront ./cmd/nfx   # the front nfx is a build of its own

# The CLI: the front nfx, which links no Pulumi SDK and starts in a few
# milliseconds, and nfx-pulumi, which it hands the laptop's and the
# server's renders, plans and engine runs (without the cloud's SDKs).
nfx: nfx-pulumi
	go build -tags nfxfront -o bin/nfx ./cmd/nfx

nfx-pulumi:
	go build -o bin/nfx-pulumi ./cmd/nfx-pulumi

# The CLI with the cloud stage, which nfx hands its cloud commands to (nfx
# builds it there itself on first use, when go is on PATH).
nfx-cloud:
	go build -o bin/nfx-cloud ./cmd/nfx-cloud

pulumi:
	scripts/build-pulumi.sh

# Pulumi's Go language host, for plain `pulumi up -s <stack>`.
language-host:
	scripts/build-language-host.sh

# The Pulumi program, built as Pulumi's Go host builds it (Pulumi.yaml's
# runtime.options.buildTarget): plain `pulumi preview` then finds it up to
# date instead of linking it again. nextflow-cloud is the program a cloud
# stack's run is handed to, built as nextflow builds it on first use.
program:
	cd cmd/nextflow && go build -buildvcs=false -o ../../bin/nextflow -trimpath -ldflags "-w -s" .
	go build -buildvcs=false -trimpath -ldflags "-w -s" -o bin/nextflow-cloud ./cmd/nextflow-cloud

# actionlint and gitlab-ci-local, into bin/.
ci-tools:
	scripts/build-ci-tools.sh

# Compose v2, into bin/ (Debian's docker-compose is Compose v1).
engine-tools:
	scripts/engine.sh tools

# A real Kubernetes control plane (kube-apiserver, controller manager,
# scheduler v1.37.2) and kwok, into bin/kube/, cached by content.
kube-tools:
	scripts/build-kube-tools.sh

# kubeconform, kube-score and the strict Kubernetes schemas, into bin/.
k8s-tools:
	scripts/build-k8s-tools.sh

# nginx, Redis and Sentinel, PostgreSQL, shellcheck, the Docker engine and
# debootstrap, from Debian's packages, where missing.
deps:
	scripts/install-test-deps.sh

fuzz:
	go test ./internal/model -run '^$$' -fuzz FuzzStackFile -fuzztime 60s
	go test ./internal/capacity -run '^$$' -fuzz FuzzCompute -fuzztime 60s

bench:
	go test ./internal/offline -run '^$$' -bench . -count 10
