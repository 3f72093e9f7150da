# Berth: build, install, test, bench. `make help` lists the targets.
GO        ?= go
PREFIX    ?= /usr/local
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# berth-oci links libseccomp statically so the binary runs anywhere the
# kernel does and starts without the dynamic loader resolving it.
OCI_TAGS  := osusergo netgo
export CGO_ENABLED := 1

BINS := bin/berth-oci bin/berth-oci-init bin/berthd bin/berth bin/berth-shim bin/berth-shim-rt
# The daemon and the CLI are pure Go: no cgo, static, and grpc without
# its tracing (see ../shared/DEPENDENCIES.md).
GO_TAGS := grpcnotrace osusergo netgo

demo: ## the main job: install deps, build, install, run a busybox container
	./scripts/demo.sh

.PHONY: all build install deps deps-full demo test test-unit test-integration vet fuzz bench bench-pull bench-run bench-net cri-tools clean help

all: build

build: $(BINS)

# GOEXPERIMENT=jsonv2 backs encoding/json with the v2 implementation (same
# API and semantics): decoding config.json in a fresh process costs a third
# of v1's type setup, which bench/oci-run.sh measures as ~2.5 ms per run.
bin/berth-oci: FORCE
	GOEXPERIMENT=jsonv2 $(GO) build -trimpath -tags '$(OCI_TAGS)' -ldflags '$(LDFLAGS) -extldflags "-static"' -o $@ ./cmd/berth-oci

# The container-side init: no cgo, no CLI, so it starts fast (it is on
# the critical path of every container start); see cmd/berth-oci-init.
bin/berth-oci-init: FORCE
	CGO_ENABLED=0 GOEXPERIMENT=jsonv2 $(GO) build -trimpath -tags 'berthinit $(OCI_TAGS)' -ldflags '$(LDFLAGS)' -o $@ ./cmd/berth-oci-init

bin/berthd: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GO_TAGS)' -ldflags '$(LDFLAGS)' -o $@ ./cmd/berthd

bin/berth: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GO_TAGS)' -ldflags '$(LDFLAGS)' -o $@ ./cmd/berth

# One per container: pure Go and static, kept small (see cmd/berth-shim).
bin/berth-shim: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(GO_TAGS)' -ldflags '$(LDFLAGS)' -o $@ ./cmd/berth-shim

# The shim berthd launches for a start: berth-oci linked in (cgo, static,
# as berth-oci), so the start execs no runtime; once its container runs it
# hands over to the plain berth-shim (see internal/shim/rebirth.go).
bin/berth-shim-rt: FORCE
	GOEXPERIMENT=jsonv2 $(GO) build -trimpath -tags 'shimruntime $(OCI_TAGS)' -ldflags '$(LDFLAGS) -extldflags "-static"' -o $@ ./cmd/berth-shim

FORCE:

deps: ## install the Debian packages Berth builds with
	./scripts/install-deps.sh

deps-full: ## also the peers the tests drive (podman, containerd, registry, CNI)
	BERTH_DEPS_FULL=1 ./scripts/install-deps.sh

install: build ## install the binaries into $(PREFIX)/bin
	install -D -m 0755 bin/berth-oci $(DESTDIR)$(PREFIX)/bin/berth-oci
	install -D -m 0755 bin/berth-oci-init $(DESTDIR)$(PREFIX)/bin/berth-oci-init
	install -D -m 0755 bin/berthd $(DESTDIR)$(PREFIX)/bin/berthd
	install -D -m 0755 bin/berth $(DESTDIR)$(PREFIX)/bin/berth
	install -D -m 0755 bin/berth-shim $(DESTDIR)$(PREFIX)/bin/berth-shim
	install -D -m 0755 bin/berth-shim-rt $(DESTDIR)$(PREFIX)/bin/berth-shim-rt

vet:
	$(GO) vet -tags '$(OCI_TAGS)' ./...
	CGO_ENABLED=0 $(GO) vet -tags 'berthinit $(OCI_TAGS)' ./cmd/berth-oci-init ./internal/oci

test-unit: ## unit tests (any user), with the race detector
	$(GO) test -race -count=1 ./internal/... ./cmd/...

cri-tools: ## build crictl and critest v1.34.0 into /opt/cri-tools/bin (the crictl scenario test uses crictl)
	./scripts/cri-conformance/build-tools.sh

test-integration: build cri-tools ## integration tests against the real kernel (root)
	BERTH_OCI=$(CURDIR)/bin/berth-oci BERTHD=$(CURDIR)/bin/berthd BERTH=$(CURDIR)/bin/berth \
		$(GO) test -count=1 -p 1 -timeout 25m ./test/integration/...

test: deps-full vet test-unit test-integration ## everything CI runs

fuzz: ## run each fuzz target briefly
	./scripts/fuzz.sh

bench: build ## berth-oci vs runc vs crun, side by side
	./bench/oci-run.sh

bench-pull: build deps-full ## cold pulls: berth vs containerd, dockerd, podman
	$(GO) run ./bench/pull -n 3

bench-run: build deps-full ## run --rm busybox /bin/true: berth vs docker, podman, ctr
	$(GO) run ./bench/run -n 20

bench-net: build deps-full ## the same on bridge networks, plus TCP throughput through a published port
	$(GO) run ./bench/run -n 20 -network bridge -engines berth,docker,podman

clean:
	rm -rf bin

help:
	@grep -hE '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'
include scripts/oci-conformance/conformance.mk
include scripts/cri-conformance/conformance.mk
