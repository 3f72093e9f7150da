package container

import (
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"regexp"

	"github.com/berth-dev/berth/internal/errdefs"
)

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) // one character is fine: docker run --name x

// checkName validates a user-chosen name (Docker's rule).
func checkName(name string) error {
	if !validName.MatchString(name) {
		return errdefs.InvalidArgument("invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return nil
}

func newID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Words for generated names: harbour things and the people who work them.
var (
	nameLeft = []string{"amber", "brave", "calm", "deft", "eager", "fair", "gentle", "hardy", "keen", "lucid",
		"merry", "nimble", "patient", "quiet", "rapid", "steady", "tidy", "upbeat", "vivid", "wise", "young", "zesty"}
	nameRight = []string{"anchor", "bollard", "buoy", "cleat", "crane", "dock", "ferry", "galley", "hawser", "jetty",
		"keel", "lighthouse", "mooring", "pier", "quay", "rudder", "skiff", "tug", "wharf", "harbour", "pilot", "stevedore"}
)

func pick(words []string) string {
	n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
	return words[n.Int64()]
}

func generatedName() string {
	var b [2]byte
	rand.Read(b[:])
	return pick(nameLeft) + "_" + pick(nameRight) + "_" + hex.EncodeToString(b[:])
}
