package reference

import "regexp"

var (
	tagRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	hexRE = regexp.MustCompile(`^[a-f0-9]+$`)
)
