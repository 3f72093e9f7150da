# CRI conformance: critest v1.34.0 against berthd (see scripts/cri-conformance/run.sh and
# /work/shared/CONFORMANCE.md section A). Included from the top-level Makefile.
#
#   make conformance-cri-build                      # critest/crictl + the offline images
#   make conformance-cri                            # run the suite against bin/berthd
#   make conformance-cri CRI_FOCUS='Image Manager'  # a subset (ginkgo focus regex)
#   make conformance-cri BERTHD=/path/to/berthd CONFORMANCE_CRI_ARGS='--keep'
#   make bench-cri                                  # critest -benchmark: berthd beside containerd 1.6
#   make bench-cri BENCH_CRI_ARGS='--pods 50 --containers 50'

CONFORMANCE_CRI_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
BERTHD ?= $(CURDIR)/bin/berthd
CRI_FOCUS ?=
CONFORMANCE_CRI_ARGS ?=
BENCH_CRI_ARGS ?=

.PHONY: conformance-cri-build conformance-cri bench-cri

conformance-cri-build: ## build critest/crictl v1.34.0 and push the offline test images to 127.0.0.1:5001
	$(CONFORMANCE_CRI_DIR)build-tools.sh
	$(CONFORMANCE_CRI_DIR)build-images.sh

conformance-cri: conformance-cri-build build ## CRI conformance (critest) against a private berthd: counts and failed specs
	BERTHD=$(BERTHD) $(CONFORMANCE_CRI_DIR)run.sh \
		$(if $(strip $(CRI_FOCUS)),--focus '$(CRI_FOCUS)') $(CONFORMANCE_CRI_ARGS)

bench-cri: conformance-cri-build build ## CRI latency benchmark (critest -benchmark): berthd beside containerd 1.6, p50 table
	BERTHD=$(BERTHD) $(CONFORMANCE_CRI_DIR)bench.sh $(BENCH_CRI_ARGS)
