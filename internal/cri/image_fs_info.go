package cri

import (
	"context"
	"io/fs"
	"path/filepath"
	"syscall"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type fsUsage struct{ bytes, inodes uint64 }

// fsUsageTTL bounds how often the snapshots are walked: the kubelet asks
// every few seconds, and a walk of many layers is not free.
const fsUsageTTL = 10 * time.Second

// ImageFsInfo reports the space and inodes the image layers use.
func (s *Server) ImageFsInfo(ctx context.Context, req *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	dir := filepath.Join(s.Root, "snapshots")
	s.fsMu.Lock()
	if time.Since(s.fsAt) > fsUsageTTL {
		var u fsUsage
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			u.inodes++
			if info, err := d.Info(); err == nil {
				if st, ok := info.Sys().(*syscall.Stat_t); ok {
					u.bytes += uint64(st.Blocks) * 512
				}
			}
			return nil
		})
		s.fsUsage, s.fsAt = u, time.Now()
	}
	u, at := s.fsUsage, s.fsAt
	s.fsMu.Unlock()
	usage := &runtimeapi.FilesystemUsage{
		Timestamp:  at.UnixNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: dir},
		UsedBytes:  &runtimeapi.UInt64Value{Value: u.bytes},
		InodesUsed: &runtimeapi.UInt64Value{Value: u.inodes},
	}
	return &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{usage}, ContainerFilesystems: []*runtimeapi.FilesystemUsage{usage}}, nil
}
