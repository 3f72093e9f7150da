// Command tput is a diagnostic for bench/run's throughput figures: one
// sender, TCP to each address given (published ports of containers that
// read and discard, as bench/run starts them), the addresses alternating
// round by round with the order rotated, and the median MiB/s of each.
//
//	go run ./bench/tput [-rounds 12] [-mib 1024] HOST:PORT HOST:PORT...
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"time"
)

func main() {
	rounds := flag.Int("rounds", 12, "rounds; each sends to every address once")
	mib := flag.Int("mib", 1024, "MiB per transfer")
	flag.Parse()
	addrs := flag.Args()
	if len(addrs) == 0 || *mib < 2 {
		fmt.Fprintln(os.Stderr, "usage: tput [-rounds N] [-mib M] HOST:PORT...")
		os.Exit(2)
	}
	res := make([][]float64, len(addrs))
	for r := 0; r < *rounds; r++ {
		for k := range addrs {
			j := (k + r) % len(addrs)
			v, err := send(addrs[j], *mib)
			if err != nil {
				fmt.Fprintf(os.Stderr, "tput: %s: %v\n", addrs[j], err)
				continue
			}
			res[j] = append(res[j], v)
		}
	}
	for j, a := range addrs {
		s := res[j]
		if len(s) == 0 {
			fmt.Printf("%s: no transfer succeeded\n", a)
			continue
		}
		sort.Float64s(s)
		fmt.Printf("%s median %.0f MiB/s (p25 %.0f, p75 %.0f, %d transfers)\n", a, s[len(s)/2], s[len(s)/4], s[3*len(s)/4], len(s))
	}
}

// send writes mib MiB to addr; the clock starts after the first MiB got
// through (a userland proxy may accept before the server listens) and
// stops once the receiver has read everything and closed.
func send(addr string, mib int) (float64, error) {
	buf := make([]byte, 1<<20)
	var c net.Conn
	var err error
	for range 50 {
		if c, err = net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			if _, err = c.Write(buf); err == nil {
				break
			}
			c.Close()
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return 0, err
	}
	defer c.Close()
	t0 := time.Now()
	for range mib - 1 {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	io.Copy(io.Discard, c)
	return float64(mib-1) / time.Since(t0).Seconds(), nil
}
