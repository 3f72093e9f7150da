# Shared by the drop-in checks: a busybox-static rootfs tarball to import
# as an image into a peer's image store.
busybox_rootfs_tar() { # <out.tar>
	local dir
	dir=$(mktemp -d)
	mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/proc" "$dir/sys" "$dir/dev"
	cp /bin/busybox "$dir/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[[ $applet == busybox ]] || ln -sf busybox "$dir/bin/$applet"
	done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$dir/etc/passwd"
	echo 'root:x:0:' >"$dir/etc/group"
	tar -C "$dir" -cf "$1" .
	rm -rf "$dir"
}

# logging_wrapper writes a runtime wrapper that records each invocation,
# so a check can prove the peer really called berth-oci.
logging_wrapper() { # <runtime> <workdir> -> prints the wrapper path
	cat >"$2/berth-oci" <<SH
#!/bin/sh
echo "\$*" >>"$2/calls.log"
exec "$1" "\$@"
SH
	chmod +x "$2/berth-oci"
	echo "$2/berth-oci"
}

check_calls() { # <workdir>
	grep -qw create "$1/calls.log" && grep -qw start "$1/calls.log" || {
		echo "berth-oci was not called for create and start:" >&2
		cat "$1/calls.log" >&2 2>/dev/null
		return 1
	}
	echo "berth-oci calls: $(awk '{for(i=1;i<=NF;i++) if ($i ~ /^(create|start|kill|delete|state)$/) {print $i; break}}' "$1/calls.log" | sort | uniq -c | tr -s ' \n' ' ')"
}
