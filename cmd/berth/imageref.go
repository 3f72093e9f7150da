package main

import (
	"fmt"
	"strings"
)

// defaultDomain is where unqualified names resolve.
const defaultDomain = "docker.io"

// imageRef is an image reference normalised as Docker does ("busybox" is
// docker.io/library/busybox). The CLI reads references itself, by hand,
// rather than through internal/reference: that package's dependencies
// compile their regular expressions when the program starts, ~1 ms of
// every berth command. Both accept the same language (FuzzImageRef checks
// it against internal/reference); berthd parses again and has the final
// word.
type imageRef struct {
	Domain, Path, Tag, Digest string
}

// parseImageRef normalises s; Tag stays "" when none is written.
func parseImageRef(s string) (imageRef, error) {
	bad := func(why string) (imageRef, error) {
		return imageRef{}, fmt.Errorf("invalid reference format %q: %s", s, why)
	}
	if s == "" {
		return bad("empty image name")
	}
	if len(s) > 4096 {
		return bad("too long")
	}
	if len(s) == 64 && strings.Trim(s, "0123456789abcdef") == "" {
		return bad("a repository name cannot be a 64-character hexadecimal string")
	}
	// The registry host is the first component if it looks like one
	// (a dot, a port, localhost, or capitals).
	r := imageRef{Domain: defaultDomain}
	rest := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		if first := s[:i]; strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			r.Domain, rest = first, s[i+1:]
		}
	}
	if r.Domain == "index.docker.io" {
		r.Domain = defaultDomain
	}
	if name, _, _ := strings.Cut(rest, ":"); strings.ToLower(name) != name {
		return bad("repository name must be lowercase")
	}
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		rest, r.Digest = rest[:i], rest[i+1:]
		if !validDigest(r.Digest) {
			return bad("invalid digest")
		}
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest, r.Tag = rest[:i], rest[i+1:]
		if !validTag(r.Tag) {
			return bad("invalid tag")
		}
	}
	r.Path = rest
	if r.Domain == defaultDomain && !strings.Contains(r.Path, "/") {
		r.Path = "library/" + r.Path
	}
	if !validDomain(r.Domain) {
		return bad("invalid registry host")
	}
	for _, c := range strings.Split(r.Path, "/") {
		if !validComponent(c) {
			return bad("invalid repository name")
		}
	}
	if len(r.Domain)+1+len(r.Path) > 255 {
		return bad("repository name must not be more than 255 characters")
	}
	return r, nil
}

// parseImageRefLatest is parseImageRef with "latest" for a reference
// that has neither tag nor digest.
func parseImageRefLatest(s string) (imageRef, error) {
	r, err := parseImageRef(s)
	if err == nil && r.Tag == "" && r.Digest == "" {
		r.Tag = "latest"
	}
	return r, err
}

// Repository is the full repository name: docker.io/library/busybox.
func (r imageRef) Repository() string { return r.Domain + "/" + r.Path }

// Familiar is the short form Docker prints: busybox:latest.
func (r imageRef) Familiar() string {
	s := r.Repository()
	if r.Domain == defaultDomain {
		s = strings.TrimPrefix(r.Path, "library/")
	}
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// String is the canonical form: domain/path[:tag][@digest].
func (r imageRef) String() string {
	s := r.Repository()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

func isLowerAlnum(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }

func isAlnum(b byte) bool { return isLowerAlnum(b) || b >= 'A' && b <= 'Z' }

// validComponent: [a-z0-9]+ joined by one of ".", "_", "__" or dashes.
func validComponent(c string) bool {
	if c == "" || !isLowerAlnum(c[0]) || !isLowerAlnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if isLowerAlnum(c[i]) {
			i++
			continue
		}
		j := i
		for j < len(c) && !isLowerAlnum(c[j]) {
			j++
		}
		sep := c[i:j]
		if sep != "." && sep != "_" && sep != "__" && strings.Trim(sep, "-") != "" {
			return false
		}
		i = j
	}
	return true
}

// validTag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validTag(t string) bool {
	if t == "" || len(t) > 128 || !(isAlnum(t[0]) || t[0] == '_') {
		return false
	}
	for i := 1; i < len(t); i++ {
		if b := t[i]; !(isAlnum(b) || b == '_' || b == '.' || b == '-') {
			return false
		}
	}
	return true
}

// validDomain: a host name (dot-separated labels of letters, digits and
// inner dashes) or a bracketed IPv6 address, and an optional :port.
func validDomain(d string) bool {
	host, port := d, ""
	if strings.HasPrefix(d, "[") {
		end := strings.IndexByte(d, ']')
		if end < 2 {
			return false
		}
		host, port = d[:end+1], d[end+1:]
		for _, b := range []byte(host[1:end]) {
			if !(b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F' || b == ':') {
				return false
			}
		}
	} else {
		if i := strings.IndexByte(d, ':'); i >= 0 {
			host, port = d[:i], d[i:]
		}
		for _, label := range strings.Split(host, ".") {
			if label == "" || !isAlnum(label[0]) || !isAlnum(label[len(label)-1]) {
				return false
			}
			for _, b := range []byte(label) {
				if !(isAlnum(b) || b == '-') {
					return false
				}
			}
		}
	}
	if port == "" {
		return true
	}
	if port[0] != ':' || len(port) == 1 {
		return false
	}
	for _, b := range []byte(port[1:]) {
		if b < '0' || b > '9' {
			return false
		}
	}
	return true
}

// validDigest: the algorithms berthd knows, with their hex lengths.
func validDigest(d string) bool {
	alg, enc, _ := strings.Cut(d, ":")
	n := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[alg]
	return n > 0 && len(enc) == n && strings.Trim(enc, "0123456789abcdef") == ""
}
