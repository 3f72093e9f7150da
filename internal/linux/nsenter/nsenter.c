// Joins namespaces before the Go runtime starts. setns(2) into a user or
// mount namespace needs a single-threaded caller, and a Go program has
// threads before main runs, so this has to happen in a constructor.
//
// The parent passes _BERTH_NSENTER="type:path,type:path,..." (user first,
// mnt last) and, optionally, _BERTH_UNSHARE=<clone flags> for namespaces to
// create after joining (needed when a user namespace was joined, so new
// namespaces are owned by it).
//
// A new pid namespace only applies to the caller's children, so with
// CLONE_NEWPID in _BERTH_UNSHARE the constructor forks: the child goes on
// as the container's init (pid 1 there), made a sibling of this process
// with CLONE_PARENT so the runtime that started us can wait for it, and
// this process writes the child's pid (a native-endian int32) to the fd
// named by _BERTH_FORKFD and exits 0.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what, const char *arg)
{
	dprintf(2, "berth-oci nsenter: %s %s: %s\n", what, arg, strerror(errno));
	_exit(1);
}

static int nstype(const char *t)
{
	if (!strcmp(t, "user")) return CLONE_NEWUSER;
	if (!strcmp(t, "mnt")) return CLONE_NEWNS;
	if (!strcmp(t, "pid")) return CLONE_NEWPID;
	if (!strcmp(t, "net")) return CLONE_NEWNET;
	if (!strcmp(t, "ipc")) return CLONE_NEWIPC;
	if (!strcmp(t, "uts")) return CLONE_NEWUTS;
	if (!strcmp(t, "cgroup")) return CLONE_NEWCGROUP;
#ifdef CLONE_NEWTIME
	if (!strcmp(t, "time")) return CLONE_NEWTIME;
#endif
	return -1;
}

__attribute__((constructor)) static void berth_nsenter(void)
{
	const char *spec = getenv("_BERTH_NSENTER");
	const char *unsh = getenv("_BERTH_UNSHARE");
	const char *forkfd = getenv("_BERTH_FORKFD");
	int joined_user = 0, flags = 0;
	if (!spec && !unsh)
		return;
	if (spec) {
		char buf[4096];
		if (strlen(spec) >= sizeof(buf)) {
			errno = ENAMETOOLONG;
			die("parse", "_BERTH_NSENTER");
		}
		strcpy(buf, spec);
		char *save = NULL;
		for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char *colon = strchr(tok, ':');
			if (!colon) {
				errno = EINVAL;
				die("parse", tok);
			}
			*colon = 0;
			int type = nstype(tok);
			if (type < 0) {
				errno = EINVAL;
				die("namespace type", tok);
			}
			int fd = open(colon + 1, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				die("open", colon + 1);
			if (setns(fd, type) < 0)
				die("setns", colon + 1);
			close(fd);
			if (type == CLONE_NEWUSER)
				joined_user = 1;
		}
	}
	if (unsh) {
		flags = atoi(unsh);
		if (flags && unshare(flags) < 0)
			die("unshare", unsh);
	}
	if (joined_user) {
		/* Become root of the joined namespace: the host's root is not
		 * mapped there, and an unmapped fsuid cannot create files. The
		 * capabilities setns gave are kept (the old uid was not this
		 * namespace's root). setgroups may be denied there; no matter. */
		setgroups(0, NULL);
		if (setresgid(0, 0, 0) < 0)
			die("setresgid", "0");
		if (setresuid(0, 0, 0) < 0)
			die("setresuid", "0");
	}
	unsetenv("_BERTH_NSENTER");
	unsetenv("_BERTH_UNSHARE");
	unsetenv("_BERTH_FORKFD");
	if ((flags & CLONE_NEWPID) && forkfd) {
		/* Raw clone: no atfork handlers to run before main anyway. */
		long pid = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
		if (pid < 0)
			die("fork", "into the new pid namespace");
		if (pid > 0) {
			int p = (int)pid;
			if (write(atoi(forkfd), &p, sizeof p) != sizeof p)
				die("report pid", forkfd);
			_exit(0);
		}
	}
}
