package unpack

import (
	"errors"
	"path"
	"strings"
)

const (
	// maxNameLen bounds entry and link names (PATH_MAX). archive/tar already
	// caps a PAX or GNU long-name record at 1 MiB; this is the tighter limit
	// a name can meaningfully have.
	maxNameLen = 4096

	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."     // AUFS bookkeeping, never content
	whiteoutOpaque = ".wh..wh..opq" // hides every lower child of its directory
)

var (
	errEscape   = errors.New("path escapes the root")
	errNUL      = errors.New("name contains a NUL byte")
	errTooLong  = errors.New("name longer than 4096 bytes")
	errRootName = errors.New("names the root directory")
)

// cleanName turns a tar name into a path relative to the root: "" is the
// root itself. A leading "/" is dropped (absolute names are contained, as
// Docker does), "." and "a/.." are folded away, and a name that climbs above
// the root is refused rather than clamped: no tool that writes layers
// produces one, so it is a sign of a hostile layer.
func cleanName(name string) (string, error) {
	if len(name) > maxNameLen {
		return "", errTooLong
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", errNUL
	}
	n := strings.TrimLeft(name, "/")
	if n == "" {
		return "", nil
	}
	c := path.Clean(n)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", errEscape
	}
	if c == "." {
		return "", nil
	}
	return c, nil
}

// splitName splits a cleaned, non-root name into its parent ("" for the
// root) and its last component.
func splitName(rel string) (dir, base string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return "", rel
	}
	return rel[:i], rel[i+1:]
}

func joinName(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}

type nameKind int

const (
	kindPlain    nameKind = iota
	kindWhiteout          // .wh.<target>
	kindOpaque            // .wh..wh..opq
	kindMeta              // AUFS .wh..wh.* bookkeeping: skipped
)

// classifyName tells whiteouts from content. It returns the whiteout's
// target for kindWhiteout. A directory component that starts with ".wh."
// cannot exist in an image (the prefix is reserved), so it is refused, apart
// from AUFS's own ".wh..wh." directories, which are skipped whole.
func classifyName(rel string) (nameKind, string, error) {
	if rel == "" {
		return kindPlain, "", nil
	}
	dir, base := splitName(rel)
	if dir != "" {
		for _, c := range strings.Split(dir, "/") {
			if strings.HasPrefix(c, whiteoutMeta) {
				return kindMeta, "", nil
			}
			if strings.HasPrefix(c, whiteoutPrefix) {
				return 0, "", errors.New("a directory component carries the reserved whiteout prefix")
			}
		}
	}
	switch {
	case base == whiteoutOpaque:
		return kindOpaque, "", nil
	case strings.HasPrefix(base, whiteoutMeta):
		return kindMeta, "", nil
	case strings.HasPrefix(base, whiteoutPrefix):
		target := base[len(whiteoutPrefix):]
		if target == "" || target == "." || target == ".." {
			return 0, "", errors.New("whiteout names no valid entry")
		}
		return kindWhiteout, target, nil
	}
	return kindPlain, "", nil
}
