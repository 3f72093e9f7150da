// Package rootfs builds a container's filesystem view inside a new mount
// namespace: the spec's mounts, devices and /dev links, pivot_root, and the
// masked and read-only paths. Every path is resolved inside the rootfs, so a
// symlink in an image cannot point a mount at the host.
package rootfs

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Options is a mount's options split the way the kernel wants them.
type Options struct {
	Flags       uintptr   // mount(2) flags
	Propagation []uintptr // applied one by one after the mount
	Data        []string  // filesystem-specific options
	AttrSet     uint64    // mount_setattr, recursive (rro, rnosuid, ...)
	AttrClr     uint64
	Recursive   bool // rbind
	Bind        bool
}

type flagOpt struct {
	clear bool
	flag  uintptr
}

var flagOpts = map[string]flagOpt{
	"async":         {true, unix.MS_SYNCHRONOUS},
	"atime":         {true, unix.MS_NOATIME},
	"defaults":      {false, 0},
	"dev":           {true, unix.MS_NODEV},
	"diratime":      {true, unix.MS_NODIRATIME},
	"dirsync":       {false, unix.MS_DIRSYNC},
	"exec":          {true, unix.MS_NOEXEC},
	"lazytime":      {false, unix.MS_LAZYTIME},
	"mand":          {false, unix.MS_MANDLOCK},
	"noatime":       {false, unix.MS_NOATIME},
	"nodev":         {false, unix.MS_NODEV},
	"nodiratime":    {false, unix.MS_NODIRATIME},
	"noexec":        {false, unix.MS_NOEXEC},
	"nolazytime":    {true, unix.MS_LAZYTIME},
	"nomand":        {true, unix.MS_MANDLOCK},
	"norelatime":    {true, unix.MS_RELATIME},
	"nostrictatime": {true, unix.MS_STRICTATIME},
	"nosuid":        {false, unix.MS_NOSUID},
	"nosymfollow":   {false, unix.MS_NOSYMFOLLOW},
	"symfollow":     {true, unix.MS_NOSYMFOLLOW},
	"relatime":      {false, unix.MS_RELATIME},
	"remount":       {false, unix.MS_REMOUNT},
	"ro":            {false, unix.MS_RDONLY},
	"rw":            {true, unix.MS_RDONLY},
	"silent":        {false, unix.MS_SILENT},
	"loud":          {true, unix.MS_SILENT},
	"strictatime":   {false, unix.MS_STRICTATIME},
	"suid":          {true, unix.MS_NOSUID},
	"sync":          {false, unix.MS_SYNCHRONOUS},
}

var propagationOpts = map[string]uintptr{
	"private":     unix.MS_PRIVATE,
	"rprivate":    unix.MS_PRIVATE | unix.MS_REC,
	"shared":      unix.MS_SHARED,
	"rshared":     unix.MS_SHARED | unix.MS_REC,
	"slave":       unix.MS_SLAVE,
	"rslave":      unix.MS_SLAVE | unix.MS_REC,
	"unbindable":  unix.MS_UNBINDABLE,
	"runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

type attrOpt struct {
	clear bool
	attr  uint64
}

var recAttrOpts = map[string]attrOpt{
	"rro":            {false, unix.MOUNT_ATTR_RDONLY},
	"rrw":            {true, unix.MOUNT_ATTR_RDONLY},
	"rnosuid":        {false, unix.MOUNT_ATTR_NOSUID},
	"rsuid":          {true, unix.MOUNT_ATTR_NOSUID},
	"rnodev":         {false, unix.MOUNT_ATTR_NODEV},
	"rdev":           {true, unix.MOUNT_ATTR_NODEV},
	"rnoexec":        {false, unix.MOUNT_ATTR_NOEXEC},
	"rexec":          {true, unix.MOUNT_ATTR_NOEXEC},
	"rnodiratime":    {false, unix.MOUNT_ATTR_NODIRATIME},
	"rdiratime":      {true, unix.MOUNT_ATTR_NODIRATIME},
	"rrelatime":      {false, unix.MOUNT_ATTR_RELATIME},
	"rnorelatime":    {true, unix.MOUNT_ATTR_RELATIME},
	"rnoatime":       {false, unix.MOUNT_ATTR_NOATIME},
	"ratime":         {true, unix.MOUNT_ATTR_NOATIME},
	"rstrictatime":   {false, unix.MOUNT_ATTR_STRICTATIME},
	"rnostrictatime": {true, unix.MOUNT_ATTR_STRICTATIME},
	"rnosymfollow":   {false, unix.MOUNT_ATTR_NOSYMFOLLOW},
	"rsymfollow":     {true, unix.MOUNT_ATTR_NOSYMFOLLOW},
}

// KnownOptions lists the option names with a meaning to the runtime itself
// (everything else is passed to the filesystem), for `features`.
func KnownOptions() []string {
	var out []string
	for k := range flagOpts {
		out = append(out, k)
	}
	for k := range propagationOpts {
		out = append(out, k)
	}
	for k := range recAttrOpts {
		out = append(out, k)
	}
	return append(out, "bind", "rbind", "idmap", "ridmap", "tmpcopyup")
}

// ParseOptions splits OCI mount options.
func ParseOptions(opts []string) Options {
	var o Options
	for _, opt := range opts {
		if f, ok := flagOpts[opt]; ok {
			if f.clear {
				o.Flags &^= f.flag
			} else {
				o.Flags |= f.flag
			}
			continue
		}
		if p, ok := propagationOpts[opt]; ok {
			o.Propagation = append(o.Propagation, p)
			continue
		}
		if a, ok := recAttrOpts[opt]; ok {
			if a.clear {
				o.AttrClr |= a.attr
				o.AttrSet &^= a.attr
			} else {
				o.AttrSet |= a.attr
				o.AttrClr &^= a.attr
			}
			continue
		}
		switch opt {
		case "bind":
			o.Bind = true
		case "rbind":
			o.Bind, o.Recursive = true, true
		case "idmap", "ridmap", "tmpcopyup":
			// Handled by the caller from the mount's fields.
		default:
			o.Data = append(o.Data, opt)
		}
	}
	return o
}

// DataString joins filesystem options for mount(2).
func (o Options) DataString() string { return strings.Join(o.Data, ",") }
