//go:build linux && cgo

package seccomp

import (
	"fmt"
	"testing"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

func BenchmarkZZPieces(b *testing.B) {
	s := defaultLikeProfile(uint(unix.EPERM))
	p, _ := compile(s)
	for _, arches := range [][]libseccomp.ScmpArch{nil, {libseccomp.ArchX86}, {libseccomp.ArchX32}, {libseccomp.ArchX86, libseccomp.ArchX32}} {
		for _, opt := range []int{1, 2} {
			b.Run(fmt.Sprintf("fill-%v-opt%d", arches, opt), func(b *testing.B) {
				for b.Loop() {
					f, _ := libseccomp.NewFilter(p.defaultAction)
					f.SetOptimize(opt)
					for _, a := range arches {
						f.AddArch(a)
					}
					for _, r := range p.rules {
						f.AddRule(r.call, r.action)
					}
					f.Release()
				}
			})
			b.Run(fmt.Sprintf("fill+export-%v-opt%d", arches, opt), func(b *testing.B) {
				for b.Loop() {
					f, _ := libseccomp.NewFilter(p.defaultAction)
					f.SetOptimize(opt)
					for _, a := range arches {
						f.AddArch(a)
					}
					for _, r := range p.rules {
						f.AddRule(r.call, r.action)
					}
					exportBPF(f)
					f.Release()
				}
			})
		}
	}
}
