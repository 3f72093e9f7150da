package cgroups

import (
	"encoding/binary"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A cgroup v2 device filter is a BPF_PROG_TYPE_CGROUP_DEVICE program. Its
// context (struct bpf_cgroup_dev_ctx) is three u32: access_type (device
// type in the low 16 bits, access in the high 16), major, minor. It
// returns 1 to allow and 0 to deny.
//
// The program checks the rules from last to first and returns the verdict
// of the first that matches (last match wins, like writing them in order
// to devices.allow/deny on v1). A rule of any type with wildcard numbers
// and full access matches everything, so rules before it are not emitted.
// No match allows, as a fresh v1 cgroup inherits allow-all.
//
// An allow rule matches when every requested access is in the rule; a
// deny rule when any requested access is (the v1 kernel's semantics).

// insn is one eBPF instruction.
type insn struct {
	code uint8
	dst  uint8
	src  uint8
	off  int16
	imm  int32
}

// Opcodes used (class | op | source).
const (
	opLdxW    = 0x01 | 0x60 | 0x00 // BPF_LDX | BPF_MEM | BPF_W
	opMov32X  = 0x04 | 0xb0 | 0x08 // BPF_ALU | BPF_MOV | BPF_X
	opAnd32K  = 0x04 | 0x50 | 0x00 // BPF_ALU | BPF_AND | BPF_K
	opRsh32K  = 0x04 | 0x70 | 0x00 // BPF_ALU | BPF_RSH | BPF_K
	opMov64K  = 0x07 | 0xb0 | 0x00 // BPF_ALU64 | BPF_MOV | BPF_K
	opJeqK    = 0x05 | 0x10 | 0x00 // BPF_JMP | BPF_JEQ | BPF_K
	opJneK    = 0x05 | 0x50 | 0x00 // BPF_JMP | BPF_JNE | BPF_K
	opJsetK   = 0x05 | 0x40 | 0x00 // BPF_JMP | BPF_JSET | BPF_K
	opExit    = 0x05 | 0x90        // BPF_JMP | BPF_EXIT
	devBlock  = 1                  // BPF_DEVCG_DEV_BLOCK
	devChar   = 2                  // BPF_DEVCG_DEV_CHAR
	regType   = 2                  // r2: device type
	regAccess = 3                  // r3: requested access
	regMajor  = 4                  // r4: major
	regMinor  = 5                  // r5: minor
)

// Register use: r1 = ctx on entry, then scratch; r0 = verdict.
var prologue = []insn{
	{code: opLdxW, dst: regType, src: 1, off: 0},
	{code: opMov32X, dst: regAccess, src: regType},
	{code: opRsh32K, dst: regAccess, imm: 16},
	{code: opAnd32K, dst: regType, imm: 0xffff},
	{code: opLdxW, dst: regMajor, src: 1, off: 4},
	{code: opLdxW, dst: regMinor, src: 1, off: 8},
}

// deviceProgram assembles the filter for rules.
func deviceProgram(rules []specs.LinuxDeviceCgroup) []insn {
	prog := append([]insn(nil), prologue...)
	for i := len(rules) - 1; i >= 0; i-- {
		block, all := ruleBlock(rules[i])
		prog = append(prog, block...)
		if all {
			return prog
		}
	}
	return append(prog, insn{code: opMov64K, dst: 0, imm: 1}, insn{code: opExit})
}

// ruleBlock emits the checks for one rule followed by its verdict. Every
// failed check jumps past the block (to the next, earlier, rule). all
// reports a rule with no checks, which matches every request.
func ruleBlock(rule specs.LinuxDeviceCgroup) (block []insn, all bool) {
	var jumps []int
	jump := func(in insn) {
		jumps = append(jumps, len(block))
		block = append(block, in)
	}
	switch rule.Type {
	case "c":
		jump(insn{code: opJneK, dst: regType, imm: devChar})
	case "b":
		jump(insn{code: opJneK, dst: regType, imm: devBlock})
	}
	if acc := accessBits(rule.Access); acc != accAll {
		if rule.Allow {
			// Skip if any requested access is outside the rule.
			jump(insn{code: opJsetK, dst: regAccess, imm: ^acc & accAll})
		} else {
			// Skip if no requested access is in the rule.
			block = append(block,
				insn{code: opMov32X, dst: 1, src: regAccess},
				insn{code: opAnd32K, dst: 1, imm: acc})
			jump(insn{code: opJeqK, dst: 1, imm: 0})
		}
	}
	if !isWildcard(rule.Major) {
		jump(insn{code: opJneK, dst: regMajor, imm: int32(*rule.Major)})
	}
	if !isWildcard(rule.Minor) {
		jump(insn{code: opJneK, dst: regMinor, imm: int32(*rule.Minor)})
	}
	verdict := int32(0)
	if rule.Allow {
		verdict = 1
	}
	block = append(block, insn{code: opMov64K, dst: 0, imm: verdict}, insn{code: opExit})
	for _, j := range jumps {
		block[j].off = int16(len(block) - (j + 1))
	}
	return block, len(jumps) == 0
}

// encode lays the program out as struct bpf_insn (8 bytes each, host order).
func encode(prog []insn) []byte {
	out := make([]byte, 8*len(prog))
	le := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
	for i, in := range prog {
		b := out[8*i:]
		b[0] = in.code
		if le {
			b[1] = in.dst&0xf | in.src<<4
		} else {
			b[1] = in.dst<<4 | in.src&0xf
		}
		binary.NativeEndian.PutUint16(b[2:], uint16(in.off))
		binary.NativeEndian.PutUint32(b[4:], uint32(in.imm))
	}
	return out
}
