package registry

import (
	"archive/tar"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// BigSpec describes a benchmark image of generated files.
type BigSpec struct {
	Layers  int    // data layers, at least 1
	TotalMB int    // MiB of file content over all layers
	Files   int    // regular files over all layers (at least one per layer)
	Seed    uint64 // the same spec gives the same digests
	// Busybox also puts BusyboxFiles into the first layer (and Cmd
	// ["sh"] into the config) so the image can run; its digests then
	// also depend on the host's /bin/busybox.
	Busybox bool
}

// Benchmark images used by bench/imagegen: ~50 MiB in 3 layers and
// ~110 MiB in 6 layers with ~20k files.
var (
	BenchSmall = BigSpec{Layers: 3, TotalMB: 50, Files: 2000, Seed: 1, Busybox: true}
	BenchLarge = BigSpec{Layers: 6, TotalMB: 110, Files: 20000, Seed: 2, Busybox: true}
)

const bigChunk = 4096

// NewBigImage generates the image spec describes. Layer n holds
// data/l<n>/d<k>/f<i>.bin (100 files a directory), sizes heavy-tailed
// around the mean; content comes from a seeded ChaCha8 stream, in 4 KiB
// chunks that are either random bytes (60%) or random hex text (40%), so
// gzip saves a little but not much. Options set compression, media types,
// platform and config as for NewImage.
func NewBigImage(spec BigSpec, opts ...ImageOption) (v1.Image, error) {
	if spec.Layers < 1 || spec.Files < spec.Layers || spec.TotalMB < 0 {
		return nil, fmt.Errorf("big image: want layers >= 1, files >= layers, size >= 0 (got %+v)", spec)
	}
	o := newImageOptions(opts)
	var bb []File
	if spec.Busybox {
		var err error
		if bb, err = BusyboxFiles(); err != nil {
			return nil, err
		}
	}
	total := int64(spec.TotalMB) << 20
	layers := make([]v1.Layer, 0, spec.Layers)
	comments := make([]string, 0, spec.Layers)
	for n := 1; n <= spec.Layers; n++ {
		files := spec.Files / spec.Layers
		size := total / int64(spec.Layers)
		if n == 1 {
			files += spec.Files % spec.Layers
			size += total % int64(spec.Layers)
		}
		var extra []File
		if n == 1 {
			extra = bb
		}
		l, err := buildLayer(o.compression, LayerMediaType(o.compression, o.docker), func(tw *tar.Writer) error {
			if err := writeFiles(tw, extra); err != nil {
				return err
			}
			return writeBigLayer(tw, spec.Seed, n, files, size)
		})
		if err != nil {
			return nil, fmt.Errorf("big image layer %d: %w", n, err)
		}
		layers = append(layers, l)
		comments = append(comments, fmt.Sprintf("generated data layer %d/%d: %d files, %d bytes, seed %d", n, spec.Layers, files, size, spec.Seed))
	}
	if spec.Busybox {
		o.config = append([]func(*v1.Config){func(c *v1.Config) { c.Cmd = []string{"sh"} }}, o.config...)
	}
	o.config = append([]func(*v1.Config){func(c *v1.Config) { c.Env = []string{DefaultPath} }}, o.config...)
	return assemble(o, layers, comments)
}

func seedFor(seed uint64, layer int, stream byte) [32]byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[0:], seed)
	binary.LittleEndian.PutUint64(s[8:], uint64(layer))
	s[16] = stream
	copy(s[17:], "berth-bigimage")
	return s
}

// bigSizes splits total bytes over n files with a heavy tail.
func bigSizes(rng *rand.Rand, n int, total int64) []int64 {
	w := make([]float64, n)
	var sum float64
	for i := range w {
		u := 1 - rng.Float64() // (0, 1]
		w[i] = math.Min(math.Pow(u, -0.8), 200)
		sum += w[i]
	}
	sizes := make([]int64, n)
	var used int64
	for i := range sizes {
		sizes[i] = int64(float64(total) * w[i] / sum)
		used += sizes[i]
	}
	sizes[n-1] += total - used
	return sizes
}

func writeBigLayer(tw *tar.Writer, seed uint64, layer, files int, total int64) error {
	meta := rand.New(rand.NewChaCha8(seedFor(seed, layer, 'm')))
	data := rand.NewChaCha8(seedFor(seed, layer, 'd'))
	sizes := bigSizes(meta, files, total)
	dir := fmt.Sprintf("data/l%d/", layer)
	for _, d := range []string{"data/", dir} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: Epoch}); err != nil {
			return err
		}
	}
	buf := make([]byte, bigChunk)
	const hexdig = "0123456789abcdef"
	for i, size := range sizes {
		sub := fmt.Sprintf("%sd%03d/", dir, i/100)
		if i%100 == 0 {
			if err := tw.WriteHeader(&tar.Header{Name: sub, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: Epoch}); err != nil {
				return err
			}
		}
		mode := int64(0o644)
		if meta.IntN(10) == 0 {
			mode = 0o755
		}
		h := &tar.Header{Name: fmt.Sprintf("%sf%05d.bin", sub, i), Typeflag: tar.TypeReg, Mode: mode, Size: size, ModTime: Epoch}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		for left := size; left > 0; {
			n := min(left, bigChunk)
			b := buf[:n]
			_, _ = data.Read(b)
			if meta.IntN(10) < 4 {
				for j := range b {
					b[j] = hexdig[b[j]&15]
				}
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
			left -= n
		}
	}
	return nil
}
