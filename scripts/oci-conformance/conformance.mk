# OCI runtime-tools conformance (see scripts/oci-conformance/run.sh and
# /work/shared/CONFORMANCE.md section B). Included from the top-level Makefile.
#
#   make conformance-oci-build                 # build both suites into /opt/runtime-tools
#   make conformance-oci                       # run them against bin/berth-oci
#   make conformance-oci RUNTIME=/usr/bin/crun SUITE=2024-11 CONFORMANCE_OCI_ARGS=--prepare-crun
#   make conformance-oci ONLY="create kill"    # a few programs only

CONFORMANCE_OCI_DIR := $(dir $(lastword $(MAKEFILE_LIST)))
RUNTIME ?= $(CURDIR)/bin/berth-oci
SUITE ?= all
ONLY ?=
CONFORMANCE_OCI_ARGS ?=

.PHONY: conformance-oci-build conformance-oci

conformance-oci-build:
	$(CONFORMANCE_OCI_DIR)build.sh --suite $(SUITE)

conformance-oci: conformance-oci-build
	$(CONFORMANCE_OCI_DIR)run.sh --suite $(SUITE) --runtime $(RUNTIME) \
		$(if $(strip $(ONLY)),--only $(ONLY)) $(CONFORMANCE_OCI_ARGS)
