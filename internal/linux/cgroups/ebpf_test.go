package cgroups

import (
	"encoding/binary"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runProg interprets the instructions deviceProgram emits, checking that
// every jump lands inside the program and r0 is set before exit.
func runProg(t *testing.T, prog []insn, typ, acc, major, minor uint32) uint64 {
	t.Helper()
	var r [11]uint64
	ctx := [3]uint32{typ | acc<<16, major, minor}
	ctxInR1, r0Set := true, false
	for pc, steps := 0, 0; ; steps++ {
		if pc < 0 || pc >= len(prog) || steps > 10000 {
			t.Fatalf("pc %d out of program (len %d)", pc, len(prog))
		}
		in := prog[pc]
		pc++
		if in.dst > 10 || in.src > 10 {
			t.Fatalf("bad register in %+v", in)
		}
		if in.dst == 1 && in.code != opJeqK && in.code != opJneK && in.code != opJsetK {
			ctxInR1 = false
		}
		if in.dst == 0 {
			r0Set = true
		}
		imm := uint64(int64(in.imm))
		switch in.code {
		case opLdxW:
			if in.src != 1 || !ctxInR1 || in.off%4 != 0 || in.off < 0 || in.off > 8 {
				t.Fatalf("bad ctx load %+v", in)
			}
			r[in.dst] = uint64(ctx[in.off/4])
		case opMov32X:
			r[in.dst] = uint64(uint32(r[in.src]))
		case opAnd32K:
			r[in.dst] = uint64(uint32(r[in.dst]) & uint32(in.imm))
		case opRsh32K:
			r[in.dst] = uint64(uint32(r[in.dst]) >> uint32(in.imm))
		case opMov64K:
			r[in.dst] = imm
		case opJeqK:
			if r[in.dst] == imm {
				pc += int(in.off)
			}
		case opJneK:
			if r[in.dst] != imm {
				pc += int(in.off)
			}
		case opJsetK:
			if r[in.dst]&imm != 0 {
				pc += int(in.off)
			}
		case opExit:
			if !r0Set {
				t.Fatal("exit without r0")
			}
			return r[0]
		default:
			t.Fatalf("unknown opcode %#x", in.code)
		}
	}
}

// reference is the v1 devices-cgroup semantic, written independently:
// last matching rule wins; allow needs all requested access, deny any.
func reference(rules []specs.LinuxDeviceCgroup, typ byte, acc int32, major, minor int64) bool {
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if (r.Type == "c" || r.Type == "b") && r.Type[0] != typ {
			continue
		}
		if r.Major != nil && *r.Major >= 0 && *r.Major != major {
			continue
		}
		if r.Minor != nil && *r.Minor >= 0 && *r.Minor != minor {
			continue
		}
		ra := accessBits(r.Access)
		if r.Allow {
			if acc&^ra != 0 {
				continue
			}
			return true
		}
		if acc&ra == 0 {
			continue
		}
		return false
	}
	return true
}

func ociDefaultDevices() []specs.LinuxDeviceCgroup {
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	for _, d := range [][2]int64{{1, 3}, {1, 5}, {1, 7}, {5, 0}, {5, 1}, {5, 2}, {1, 8}, {1, 9}, {10, 200}} {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(d[0]), Minor: i64(d[1]), Access: "rwm"})
	}
	return append(rules,
		specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(136), Access: "rwm"},
		specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: i64(5), Minor: i64(-1), Access: "rwm"},
		specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "m"},
		specs.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "m"},
	)
}

func TestDeviceProgramSemantics(t *testing.T) {
	sets := map[string][]specs.LinuxDeviceCgroup{
		"oci default": ociDefaultDevices(),
		"empty":       nil,
		"allow all then deny one": {
			{Allow: true, Type: "a"},
			{Allow: false, Type: "c", Major: i64(1), Minor: i64(3), Access: "rwm"},
		},
		"partial access": {
			{Allow: false},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "r"},
			{Allow: true, Type: "c", Major: i64(1), Minor: i64(5), Access: "w"},
			{Allow: true, Type: "b", Major: i64(8), Access: "rw"},
			{Allow: false, Type: "b", Major: i64(8), Minor: i64(3), Access: "w"},
		},
		"deny last wins over allow": {
			{Allow: false},
			{Allow: true, Type: "c", Major: i64(10), Minor: i64(200)},
			{Allow: false, Type: "c", Major: i64(10), Access: "m"},
		},
		"allow-all at the end": {
			{Allow: false},
			{Allow: false, Type: "c", Major: i64(1), Minor: i64(3)},
			{Allow: true},
		},
		"typeless with numbers": {
			{Allow: false},
			{Allow: true, Major: i64(1), Minor: i64(3), Access: "rw"},
		},
	}
	types := map[byte]uint32{'c': devChar, 'b': devBlock}
	for name, rules := range sets {
		prog := deviceProgram(rules)
		for tc, tv := range types {
			for acc := int32(1); acc <= 7; acc++ {
				for _, maj := range []int64{1, 5, 8, 10, 136, 4095} {
					for _, min := range []int64{0, 1, 3, 5, 200, 1 << 19} {
						want := reference(rules, tc, acc, maj, min)
						got := runProg(t, prog, tv, uint32(acc), uint32(maj), uint32(min)) == 1
						if got != want {
							t.Fatalf("%s: %c %d:%d access %d: program says %v, rules say %v", name, tc, maj, min, acc, got, want)
						}
					}
				}
			}
		}
	}
}

func TestDeviceProgramShape(t *testing.T) {
	// Deny-all alone: no default verdict after the catch-all.
	got := deviceProgram([]specs.LinuxDeviceCgroup{{Allow: false}})
	want := append(append([]insn(nil), prologue...), insn{code: opMov64K, imm: 0}, insn{code: opExit})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("deny-all program:\n%+v\nwant\n%+v", got, want)
	}

	// One allow rule: each failed check jumps to the end of its block.
	got = deviceProgram([]specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: i64(1), Minor: i64(3), Access: "rw"}})[len(prologue):]
	want = []insn{
		{code: opJneK, dst: regType, off: 5, imm: devChar},
		{code: opJsetK, dst: regAccess, off: 4, imm: accMknod},
		{code: opJneK, dst: regMajor, off: 3, imm: 1},
		{code: opJneK, dst: regMinor, off: 2, imm: 3},
		{code: opMov64K, imm: 1},
		{code: opExit},
		{code: opMov64K, imm: 1}, // no match: allow
		{code: opExit},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("allow program:\n%+v\nwant\n%+v", got, want)
	}

	// A deny rule with partial access tests for any overlap.
	blk, all := ruleBlock(specs.LinuxDeviceCgroup{Allow: false, Type: "b", Access: "w"})
	wantBlk := []insn{
		{code: opJneK, dst: regType, off: 5, imm: devBlock},
		{code: opMov32X, dst: 1, src: regAccess},
		{code: opAnd32K, dst: 1, imm: accWrite},
		{code: opJeqK, dst: 1, off: 2, imm: 0},
		{code: opMov64K, imm: 0},
		{code: opExit},
	}
	if all || !reflect.DeepEqual(blk, wantBlk) {
		t.Errorf("deny block (all=%v):\n%+v\nwant\n%+v", all, blk, wantBlk)
	}

	// Rules before a catch-all are dead and not emitted.
	n := len(deviceProgram([]specs.LinuxDeviceCgroup{{Allow: false, Type: "c", Major: i64(1)}, {Allow: true}}))
	if n != len(prologue)+2 {
		t.Errorf("program after catch-all has %d insns", n)
	}
}

func TestEncode(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("expected bytes are little-endian")
	}
	b := encode([]insn{{code: opLdxW, dst: 2, src: 1, off: 4}, {code: opJneK, dst: 4, off: -2, imm: 136}})
	want := []byte{0x61, 0x12, 4, 0, 0, 0, 0, 0, 0x55, 0x04, 0xfe, 0xff, 136, 0, 0, 0}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("encode = % x, want % x", b, want)
	}
}
