// Command grpcfloor measures the floor under berthd's sub-millisecond CRI
// calls: a raw unix-socket ping-pong and a CRI Version call answered by an
// empty grpc-go handler (with and without stream workers), from a grpc-go
// client like critest's. A diagnostic for bench/README.md.
//
//	grpcfloor -mode server [-workers N] [-sock PATH] &   # or -mode rawserver
//	grpcfloor [-mode rawclient] [-sock PATH] [-n N]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type srv struct {
	runtimeapi.UnimplementedRuntimeServiceServer
}

func (srv) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "x", RuntimeVersion: "1", RuntimeApiVersion: "v1"}, nil
}

func main() {
	mode := flag.String("mode", "client", "server|client|rawserver|rawclient")
	sock := flag.String("sock", "/tmp/gf.sock", "")
	workers := flag.Int("workers", 0, "")
	n := flag.Int("n", 3000, "")
	flag.Parse()
	switch *mode {
	case "server":
		os.Remove(*sock)
		l, err := net.Listen("unix", *sock)
		if err != nil {
			log.Fatal(err)
		}
		var opts []grpc.ServerOption
		if *workers > 0 {
			opts = append(opts, grpc.NumStreamWorkers(uint32(*workers)))
		}
		s := grpc.NewServer(opts...)
		runtimeapi.RegisterRuntimeServiceServer(s, srv{})
		log.Fatal(s.Serve(l))
	case "rawserver":
		os.Remove(*sock)
		l, err := net.Listen("unix", *sock)
		if err != nil {
			log.Fatal(err)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				log.Fatal(err)
			}
			go func() {
				b := make([]byte, 512)
				for {
					k, err := c.Read(b)
					if err != nil {
						return
					}
					c.Write(b[:k])
				}
			}()
		}
	case "rawclient":
		c, err := net.Dial("unix", *sock)
		if err != nil {
			log.Fatal(err)
		}
		b := make([]byte, 512)
		report("raw", *n, func() error {
			c.Write(b[:100])
			_, err := c.Read(b)
			return err
		})
	default:
		conn, err := grpc.NewClient("unix://"+*sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			log.Fatal(err)
		}
		rt := runtimeapi.NewRuntimeServiceClient(conn)
		report("Version", *n, func() error {
			_, err := rt.Version(context.Background(), &runtimeapi.VersionRequest{})
			return err
		})
	}
}

func report(name string, n int, f func() error) {
	for i := 0; i < 50; i++ {
		if err := f(); err != nil {
			log.Fatal(err)
		}
	}
	d := make([]time.Duration, n)
	for i := range d {
		t := time.Now()
		if err := f(); err != nil {
			log.Fatal(err)
		}
		d[i] = time.Since(t)
	}
	slices.Sort(d)
	fmt.Printf("%-10s p50 %5d µs  p90 %5d µs\n", name, d[n/2].Microseconds(), d[n*9/10].Microseconds())
}
