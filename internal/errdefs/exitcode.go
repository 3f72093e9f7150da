package errdefs

import "strings"

// StartExitCode is the exit code Docker gives a container whose process
// could not be started, from the runtime's message: 127 when the command
// is not found, 126 when it cannot be executed, 128 for other failures.
// (docker run exits with the first two, and 125 for the rest.)
func StartExitCode(msg string) int {
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "exec format error"),
		strings.Contains(msg, "not an executable"):
		return 126
	}
	return 128
}
