// Small static programs baked into the CRI conformance test images (see
// ../build-images.sh). A module of their own, so the project's ./... (vet, test)
// does not include them.
module github.com/berth-dev/berth/scripts/cri-conformance/images

go 1.22
