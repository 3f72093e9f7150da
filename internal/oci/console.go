package oci

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// openConsole makes a pty from the container's devpts instance, hands the
// master to whoever listens on --console-socket (as runc does: one
// SCM_RIGHTS message), and returns the slave for the process's stdio.
func openConsole(cfg *initConfig, ptmx string) (*os.File, error) {
	if cfg.ConsoleFD < 0 {
		return nil, errNoConsoleSocket
	}
	mfd, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", ptmx, err)
	}
	master := os.NewFile(uintptr(mfd), "/dev/ptmx")
	defer master.Close()
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("unlockpt: %w", err)
	}
	// TIOCGPTPEER opens the peer with the flags given as its argument.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(mfd), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if errno != 0 {
		return nil, fmt.Errorf("open pty peer: %w", errno)
	}
	sfd := int(r)
	slave := os.NewFile(uintptr(sfd), "pty-slave")
	if cs := cfg.Process.ConsoleSize; cs != nil {
		ws := &unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)}
		if err := unix.IoctlSetWinsize(mfd, unix.TIOCSWINSZ, ws); err != nil {
			return nil, fmt.Errorf("set console size: %w", err)
		}
	}
	rights := unix.UnixRights(mfd)
	if err := unix.Sendmsg(cfg.ConsoleFD, []byte("/dev/ptmx"), rights, nil, 0); err != nil {
		slave.Close()
		return nil, fmt.Errorf("send pty master to console socket: %w", err)
	}
	unix.Close(cfg.ConsoleFD)
	return slave, nil
}

// bindConsole makes /dev/console the container's terminal.
func bindConsole(root string, slave *os.File) error {
	target := filepath.Join(root, "dev/console")
	if err := makeFile(target); err != nil {
		return err
	}
	src := fmt.Sprintf("/proc/self/fd/%d", slave.Fd())
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /dev/console: %w", err)
	}
	return nil
}

func makeFile(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// takeConsole makes slave the controlling terminal and stdio of a new session.
func takeConsole(slave *os.File) error {
	if _, err := unix.Setsid(); err != nil {
		return fmt.Errorf("setsid: %w", err)
	}
	fd := int(slave.Fd())
	if err := unix.IoctlSetInt(fd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("set controlling terminal: %w", err)
	}
	for i := 0; i < 3; i++ {
		if err := unix.Dup3(fd, i, 0); err != nil {
			return fmt.Errorf("dup console: %w", err)
		}
	}
	return nil
}
