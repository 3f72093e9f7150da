package specgen

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/errdefs"
)

// maxID is the largest uid or gid a container may use (the kernel reserves
// the top bit, and (uid_t)-1 means "no change").
const maxID = 1<<31 - 1

// maxUserFile bounds how much of an image's /etc/passwd or /etc/group is
// read: the files come from untrusted images.
const maxUserFile = 16 << 20

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// resolveUserInRootfs resolves a -u value against the rootfs's
// /etc/passwd and /etc/group. It returns the user and the home directory.
func resolveUserInRootfs(rootfs, spec string, groupAdd []string, strict bool) (specs.User, string, error) {
	var passwd, group []byte
	if rootfs != "" {
		var err error
		if passwd, err = readRootfsFile(rootfs, "/etc/passwd"); err != nil {
			return specs.User{}, "", err
		}
		if group, err = readRootfsFile(rootfs, "/etc/group"); err != nil {
			return specs.User{}, "", err
		}
	}
	return resolveUser(spec, parsePasswd(passwd), parseGroup(group), groupAdd, strict)
}

// readRootfsFile reads name inside rootfs, following symlinks only within
// it. A missing file reads as empty, as in Docker: numeric users still work.
func readRootfsFile(rootfs, name string) ([]byte, error) {
	p, err := securejoin.SecureJoin(rootfs, name)
	if err != nil {
		return nil, errdefs.InvalidArgument("resolve %s in the image: %v", name, err)
	}
	// O_NONBLOCK: an image could ship a FIFO here; it must not hang us.
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, errdefs.InvalidArgument("open %s in the image: %v", name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s in the rootfs: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s in the rootfs: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errdefs.InvalidArgument("%s in the image is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxUserFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s in the rootfs: %w", name, err)
	}
	if len(b) > maxUserFile {
		return nil, errdefs.InvalidArgument("%s in the image is larger than %d bytes", name, maxUserFile)
	}
	return b, nil
}

// lines splits a colon-separated database into the fields of each useful
// line, skipping blank lines, comments and NIS compat entries.
func lines(data []byte, minFields int, fn func(fields []string)) {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		fields := strings.Split(line, ":")
		if len(fields) < minFields || fields[0] == "" {
			continue
		}
		fn(fields)
	}
}

// parseID parses a uid or gid; ok is false when s is not a number at all,
// err is set when it is one but out of range.
func parseID(s string) (id uint32, ok bool, err error) {
	if s == "" {
		return 0, false, nil
	}
	neg := s[0] == '-'
	digits := strings.TrimPrefix(s, "-")
	if digits == "" {
		return 0, false, nil
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false, nil
		}
	}
	n, perr := strconv.ParseUint(digits, 10, 64)
	if neg || perr != nil || n > maxID {
		return 0, true, errdefs.InvalidArgument("uids and gids must be in range 0-%d, not %s", maxID, s)
	}
	return uint32(n), true, nil
}

// parsePasswd reads name:password:uid:gid:gecos:home:shell lines; malformed
// lines are skipped, as the C library does.
func parsePasswd(data []byte) []passwdEntry {
	var out []passwdEntry
	lines(data, 3, func(f []string) {
		uid, ok, err := parseID(f[2])
		if !ok || err != nil {
			return
		}
		e := passwdEntry{name: f[0], uid: uid}
		if len(f) > 3 {
			if gid, ok, err := parseID(f[3]); ok && err == nil {
				e.gid = gid
			}
		}
		if len(f) > 5 {
			e.home = f[5]
		}
		out = append(out, e)
	})
	return out
}

// parseGroup reads name:password:gid:member,member lines.
func parseGroup(data []byte) []groupEntry {
	var out []groupEntry
	lines(data, 3, func(f []string) {
		gid, ok, err := parseID(f[2])
		if !ok || err != nil {
			return
		}
		e := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 {
			for _, m := range strings.Split(f[3], ",") {
				if m = strings.TrimSpace(m); m != "" {
					e.members = append(e.members, m)
				}
			}
		}
		out = append(out, e)
	})
	return out
}

// resolveUser turns "user[:group]" (names or numbers) into ids the way
// runc's user lookup does for Docker: a name must exist in passwd, a number
// need not (its group is then 0); an explicit group replaces the user's
// group and its memberships; otherwise the groups listing the user by name
// are supplementary. The primary gid and GroupAdd are added to
// AdditionalGids, as Docker does. With strict, /etc/group memberships are
// left out (the CRI's SupplementalGroupsPolicy Strict). The second result
// is the home directory.
func resolveUser(spec string, passwd []passwdEntry, groups []groupEntry, groupAdd []string, strict bool) (specs.User, string, error) {
	if strings.IndexByte(spec, 0) >= 0 || len(spec) > 1024 {
		return specs.User{}, "", errdefs.InvalidArgument("invalid user %q", spec)
	}
	userArg, groupArg, _ := strings.Cut(spec, ":")
	if userArg == "" {
		userArg = "0"
	}
	uid, numeric, err := parseID(userArg)
	if err != nil {
		return specs.User{}, "", err
	}
	u := specs.User{}
	home := "/"
	matched := ""
	found := false
	for _, e := range passwd {
		if e.name == userArg || (numeric && e.uid == uid) {
			u.UID, u.GID, matched, found = e.uid, e.gid, e.name, true
			if e.home != "" {
				home = e.home
			}
			break
		}
	}
	if !found {
		if !numeric {
			return specs.User{}, "", errdefs.InvalidArgument("unable to find user %s: no matching entries in passwd file", userArg)
		}
		u.UID = uid
	}

	var extra []uint32
	if groupArg != "" {
		gid, err := lookupGroup(groupArg, groups)
		if err != nil {
			return specs.User{}, "", err
		}
		u.GID = gid
	} else if matched != "" && !strict {
		for _, g := range groups {
			for _, m := range g.members {
				if m == matched {
					extra = append(extra, g.gid)
					break
				}
			}
		}
	}
	for _, name := range groupAdd {
		gid, err := lookupGroup(name, groups)
		if err != nil {
			return specs.User{}, "", err
		}
		extra = append(extra, gid)
	}
	u.AdditionalGids = []uint32{u.GID}
	seen := map[uint32]bool{u.GID: true}
	for _, g := range extra {
		if !seen[g] {
			seen[g] = true
			u.AdditionalGids = append(u.AdditionalGids, g)
		}
	}
	return u, home, nil
}

func lookupGroup(arg string, groups []groupEntry) (uint32, error) {
	gid, numeric, err := parseID(arg)
	if err != nil {
		return 0, err
	}
	for _, g := range groups {
		if g.name == arg || (numeric && g.gid == gid) {
			return g.gid, nil
		}
	}
	if numeric {
		return gid, nil
	}
	return 0, errdefs.InvalidArgument("unable to find group %s: no matching entries in group file", arg)
}

// hostHostname is the host's name, or "" when it cannot be read.
func hostHostname() string {
	h, _ := os.Hostname()
	return h
}
