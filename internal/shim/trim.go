package shim

import (
	"bufio"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// trim hands memory the shim no longer needs back to the kernel; it runs
// once the container has started, since from then on every running
// container carries this process while it mostly sleeps.
//
// Besides returning the free heap, it unmaps the resident pages of the
// shim's own read-only segments (code and constant data). Start-up touched
// most of the binary; an idle shim needs a few pages of it, which fault
// back in from the page cache (shared by all shims) when used. Only clean,
// file-backed, non-writable mappings are dropped: for those MADV_DONTNEED
// cannot lose anything, as their content is the file's.
func trim(freeHeap bool) {
	if freeHeap {
		debug.FreeOSMemory()
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		unix.Syscall(unix.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), unix.MADV_RANDOM)
		unix.Syscall(unix.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), unix.MADV_DONTNEED)
	}
}
