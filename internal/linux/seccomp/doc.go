// Package seccomp turns the seccomp section of an OCI runtime spec
// (linux.seccomp, runtime-spec 1.3) into a BPF filter and loads it into the
// calling thread, with the full OCI semantics: default action and errno,
// per-rule actions (kill, trap, errno, trace, allow, log, notify), extra
// architectures, argument conditions, filter flags and the user-notification
// listener.
//
// The package is linked only into berth-oci. The filter is compiled with
// libseccomp (which owns the per-architecture syscall tables) and exported as
// BPF; the package then installs it with seccomp(2) itself, so every flag in
// the spec (TSYNC, LOG, SPEC_ALLOW, WAIT_KILLABLE_RECV) is honoured whatever
// the libseccomp version, and the notification fd comes straight from the
// kernel.
//
// Semantics worth knowing:
//   - A syscall name unknown to libseccomp is an error, except names of recent
//     kernel syscalls that this libseccomp cannot name yet (statmount, mseal,
//     ...): those are skipped, unless skipping would let the default action
//     allow a syscall the profile denies, which is an error.
//   - A name libseccomp knows but that does not exist on one of the filter's
//     architectures (socketcall on x86_64) is skipped on that architecture.
//   - Conditions on different argument indexes are ANDed; several conditions
//     on the same index are alternatives (OR), so such a rule is split into
//     one rule per combination.
//   - Rules whose action equals the default action are dropped.
//   - Architectures this libseccomp cannot handle, or cannot mix with the
//     native one (other endianness), are skipped: their syscalls meet the
//     filter's bad-architecture action (kill), which is the safe side.
//   - SCMP_ACT_NOTIFY needs listenerPath and cannot be the default action.
//     WAIT_KILLABLE_RECV only means something with a listener; without one
//     it is ignored.
package seccomp
