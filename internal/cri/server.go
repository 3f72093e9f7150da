// Package cri serves the Kubernetes Container Runtime Interface (CRI v1,
// runtime.v1.RuntimeService and runtime.v1.ImageService) on a unix socket,
// the way containerd's CRI plugin and CRI-O do, on top of berthd's image
// service. One file per RPC.
package cri

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"

	ctr "github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/errdefs"
	"github.com/berth-dev/berth/internal/events"
	"github.com/berth-dev/berth/internal/gc"
	"github.com/berth-dev/berth/internal/images"
	"github.com/berth-dev/berth/internal/metadata"
	"github.com/berth-dev/berth/internal/network"
)

// Names reported by Version.
const (
	RuntimeName       = "berth"
	runtimeAPIVersion = "v1"
)

// Server implements the CRI services.
type Server struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	Meta           *metadata.DB
	Images         *images.Service
	Containers     *ctr.Service
	Events         *events.Hub
	GC             *gc.Collector // run after image removals
	Networks       *network.Manager
	Log            *slog.Logger
	RuntimeVersion string
	// Root is the daemon's data root: ImageFsInfo reports its snapshots.
	Root string
	// State holds the sandboxes' pinned namespaces and files
	// (<state>/sandboxes/<id>/).
	State string
	// Network is the berth network pods join (default: the default one),
	// unless CNIConfDir is set: then pods join the network configured
	// there (a kubelet deployment's /etc/cni/net.d), as with containerd.
	Network    string
	CNIConfDir string
	// Pause is the berth-shim binary, run as `berth-shim pause` to hold a
	// pod's shared PID namespace.
	Pause string

	grpc       *grpc.Server
	stream     streaming.Server
	streamHTTP *http.Server

	userCache sync.Map // image ID -> its config's user
	answers   answerCache
	gcMu      sync.Mutex
	gcDue     bool // a collection is scheduled (scheduleGC)

	fsMu    sync.Mutex
	fsAt    time.Time
	fsUsage fsUsage
}

// Serve listens on path (taking over a stale socket) and serves until
// Stop.
func (s *Server) Serve(path string) error {
	l, err := s.Listen(path)
	if err != nil {
		return err
	}
	return s.ServeOn(l)
}

// Listen makes the socket at path (taking over a stale one) and the
// server, so that the socket is there before the daemon says it is ready;
// ServeOn then serves it until Stop.
func (s *Server) Listen(path string) (net.Listener, error) {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s is in use: another daemon is running", path)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	if err := s.startStreaming(); err != nil {
		l.Close()
		return nil, err
	}
	// Stream workers: a call is handed to a waiting goroutine instead of
	// a new one, ~15 µs of a round trip that is ~100 µs here (an empty
	// handler, measured); calls beyond them still get their own.
	s.grpc = grpc.NewServer(grpc.UnaryInterceptor(s.intercept), grpc.MaxRecvMsgSize(16<<20), grpc.MaxSendMsgSize(16<<20),
		grpc.NumStreamWorkers(uint32(max(2, runtime.NumCPU()))))
	runtimeapi.RegisterRuntimeServiceServer(s.grpc, s)
	runtimeapi.RegisterImageServiceServer(s.grpc, s)
	return l, nil
}

// ServeOn serves l (from Listen) until Stop.
func (s *Server) ServeOn(l net.Listener) error {
	return s.grpc.Serve(l)
}

// Stop ends the server.
func (s *Server) Stop() {
	if s.grpc != nil {
		s.grpc.Stop()
	}
	if s.streamHTTP != nil {
		s.streamHTTP.Close()
	}
}

// intercept logs each call and maps berth's error classes to gRPC codes.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !s.Log.Enabled(ctx, slog.LevelDebug) {
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, toStatus(err)
		}
		return resp, nil
	}
	t0 := time.Now()
	resp, err := handler(ctx, req)
	if err != nil {
		s.Log.Debug("cri", "method", info.FullMethod, "took", time.Since(t0), "err", err)
		return nil, toStatus(err)
	}
	s.Log.Debug("cri", "method", info.FullMethod, "took", time.Since(t0))
	return resp, nil
}

// toStatus maps an error to its gRPC status, once, in one place.
func toStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Unknown
	switch {
	case errdefs.IsInvalidArgument(err):
		code = codes.InvalidArgument
	case errdefs.IsNotFound(err):
		code = codes.NotFound
	case errdefs.IsAlreadyExists(err):
		code = codes.AlreadyExists
	case errdefs.IsConflict(err), errdefs.IsFailedPrecondition(err):
		code = codes.FailedPrecondition
	case errdefs.IsPermissionDenied(err):
		code = codes.PermissionDenied
	case errdefs.IsNotImplemented(err):
		code = codes.Unimplemented
	case errdefs.IsUnavailable(err):
		code = codes.Unavailable
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}

func notFound(format string, args ...any) error { return errdefs.NotFound(format, args...) }
