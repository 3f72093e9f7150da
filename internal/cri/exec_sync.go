package cri

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/shim"
)

// maxExecSyncOutput bounds what ExecSync keeps of each stream (the
// kubelet's probes want a little output, not a flood).
const maxExecSyncOutput = 16 << 20

// ExecSync runs a command in a running container and returns its output
// and exit code once it ends, or an error at the timeout.
func (s *Server) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	c, err := s.getContainer(req.GetContainerId())
	if err != nil {
		return nil, err
	}
	if len(req.GetCmd()) == 0 {
		return nil, errdefs.InvalidArgument("exec: no command")
	}
	id, err := s.Containers.CreateExec(c.ID, ctr.ExecConfig{Cmd: req.Cmd})
	if err != nil {
		return nil, err
	}
	if t := req.GetTimeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	stream := &collector{}
	if err := s.Containers.StartExec(ctx, id, stream); err != nil {
		if ctx.Err() != nil {
			// The command outlived its timeout: it goes, as the kubelet
			// expects of a probe.
			if e, err := s.Containers.InspectExec(id); err == nil && e.Pid > 0 {
				unix.Kill(e.Pid, unix.SIGKILL)
			}
			return nil, status.Errorf(codes.DeadlineExceeded, "exec in %s: command timed out after %ds", c.ID[:12], req.GetTimeout())
		}
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	shim.Demux(bytes.NewReader(stream.bytes()), limitWriter(&stdout), limitWriter(&stderr))
	e, err := s.Containers.InspectExec(id)
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ExecSyncResponse{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if e.ExitCode != nil {
		resp.ExitCode = int32(*e.ExitCode)
	}
	return resp, nil
}

// collector is an exec's client end: no input, the multiplexed output kept.
type collector struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *collector) Read(p []byte) (int, error) { return 0, io.EOF }
func (c *collector) Close() error               { return nil }
func (c *collector) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.buf.Len() < 2*maxExecSyncOutput+1024 {
		c.buf.Write(p)
	}
	return len(p), nil
}
func (c *collector) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Bytes()
}

type limited struct{ b *bytes.Buffer }

func limitWriter(b *bytes.Buffer) io.Writer { return limited{b} }
func (l limited) Write(p []byte) (int, error) {
	if room := maxExecSyncOutput - l.b.Len(); room > 0 {
		if len(p) > room {
			l.b.Write(p[:room])
		} else {
			l.b.Write(p)
		}
	}
	return len(p), nil
}
