#!/usr/bin/env bash
# Builds offline substitutes for every image critest v1.34.0 pulls and pushes them to a
# private registry on 127.0.0.1:5001, under the upstream path minus the host.
#
#   scripts/cri-conformance/build-images.sh [--force] [--list] [--stop-registry]
#
#   --force          rebuild and push every image, even those already in the registry
#   --list           print the upstream references and their recipes, then exit
#   --stop-registry  stop the registry this script started (pid in /run/conf-registry.pid)
#
# See /work/shared/CONFORMANCE.md section A for what each image must provide. The
# registry is Debian's docker-registry (distribution 2.8), storage /var/lib/conf-registry,
# config /etc/conf-registry/config.yml, log /var/log/conf-registry.log; a registry already
# answering on the address is reused. Images are assembled with umoci (layers are tar
# files made here, so busybox's applet hard links survive) in a scratch OCI layout and
# pushed with skopeo. Every reference already in the registry is skipped, so the script
# is cheap to call from make; a change of $recipe_version below rebuilds everything.
# The building and pushing run under `nice -n 19` (NICE=0 to disable); the registry does not.
#
# The base image is Debian's glibc busybox (the `busybox` .deb, unpacked, not installed)
# with its applets as hard links in /bin, docker-busybox's /etc/passwd and /etc/group,
# util-linux's ipcs, the glibc libraries those need, and a shell pgrep/pkill
# (images/rootfs/usr/bin/pgrep). The nginx/httpd stand-in, nonewprivs and pause are the
# static Go programs in images/ (their own module), built with CGO_ENABLED=0.
set -euo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
addr=${CONF_REGISTRY_ADDR:-127.0.0.1:5001}
storage=${CONF_REGISTRY_STORAGE:-/var/lib/conf-registry}
confdir=/etc/conf-registry
conf=$confdir/config.yml
pidfile=/run/conf-registry.pid
logfile=/var/log/conf-registry.log
cachedir=/var/cache/cri-conformance
nice_n=${NICE:-19}
# Bump when a recipe changes: a registry holding images of another recipe version is
# refilled completely.
recipe_version=1
stamp=$storage/.berth-cri-images

force=0
list_only=0
stop_registry=0

usage() {
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}
die() {
	echo "build-images.sh: $*" >&2
	exit 1
}

while (($#)); do
	case $1 in
	--force) force=1; shift ;;
	--list) list_only=1; shift ;;
	--stop-registry) stop_registry=1; shift ;;
	-h | --help) usage 0 ;;
	*) echo "build-images.sh: unknown argument: $1" >&2; usage ;;
	esac
done

# ---- the images ----------------------------------------------------------------------
# upstream reference → recipe. References that share a recipe (and a marker) are one
# image under several tags. Recipes:
#   busybox            the base image (CMD sh)
#   marker:NAME        busybox + the file /NAME (a distinct image per NAME)
#   nginx:PORT         busybox + the web server as /usr/sbin/nginx listening on PORT
#   httpd              busybox + the web server as httpd on :80, logging to stderr
#   nonewprivs         busybox + a setuid-root program printing "Effective uid: N"
#   user:SPEC          busybox with USER SPEC
#   predefined-group   busybox + default-user(1000) in group 50000, USER 1000
#   pause              only the static pause program, USER 65535
ecr=public.ecr.aws/docker/library/busybox
staging=gcr.io/k8s-staging-cri-tools
e2e=registry.k8s.io/e2e-test-images
images=(
	"$e2e/busybox:1.29-2 busybox"
	"$e2e/nginx:1.14-2 nginx:80"
	"$staging/hostnet-nginx-amd64:latest nginx:12003"
	"$e2e/httpd:2.4.39-4 httpd"
	"$e2e/nonewprivs:1.3 nonewprivs"
	"$staging/test-image-user-uid:latest user:1002"
	"$staging/test-image-user-username:latest user:www-data"
	"$staging/test-image-user-uid-group:latest user:1003:1004"
	"$staging/test-image-user-username-group:latest user:www-data:1004"
	"$staging/test-image-predefined-group:latest predefined-group"
	"$staging/test-image-latest:latest marker:test-image-latest"
	"$staging/test-image-1:latest marker:test-image-1"
	"$staging/test-image-2:latest marker:test-image-2"
	"$staging/test-image-3:latest marker:test-image-3"
	"$staging/test-image-digest:latest marker:test-image-digest"
	"$staging/test-image-tag:test marker:test-image-tag-test"
	"$staging/test-image-tag:all marker:test-image-tag-all"
	"$staging/test-image-tags:1 marker:test-image-tags"
	"$staging/test-image-tags:2 marker:test-image-tags"
	"$staging/test-image-tags:3 marker:test-image-tags"
	"$ecr:1.35.0-glibc marker:ecr-busybox-1.35.0-glibc"
	"$ecr:1-uclibc marker:ecr-busybox-1-uclibc"
	"$ecr:1 marker:ecr-busybox-1"
	"$ecr:1-glibc marker:ecr-busybox-1-glibc"
	"$ecr:1-musl marker:ecr-busybox-1-musl"
	"registry.k8s.io/pause:3.6 pause"
	"registry.k8s.io/pause:3.9 pause"
	"registry.k8s.io/pause:3.10 pause"
	"docker.io/library/busybox:latest marker:library-busybox"
	"docker.io/library/busybox:1.37.0 marker:library-busybox"
)

# dest REF → the path in our registry: the reference minus its host.
dest() { echo "${1#*/}"; }

if ((list_only)); then
	for e in "${images[@]}"; do
		printf '%-62s %-26s -> %s/%s\n' "${e%% *}" "${e#* }" "$addr" "$(dest "${e%% *}")"
	done
	exit 0
fi

# ---- the registry --------------------------------------------------------------------
registry_pid() {
	local pid
	[[ -f $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == docker-registry* ]] || return 1
	echo "$pid"
}

if ((stop_registry)); then
	if pid=$(registry_pid); then
		kill "$pid" && echo "==> registry (pid $pid) stopped"
		rm -f "$pidfile"
	else
		echo "==> no registry started by this script is running"
	fi
	exit 0
fi

t0=$SECONDS

# ---- Debian packages (only what is missing) ------------------------------------------
pkgs=(docker-registry umoci skopeo util-linux curl tar)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "==> installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# docker-registry ships a service: it must not start on install (we run our own).
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
	rm -f /usr/sbin/policy-rc.d
fi
command -v go >/dev/null || die "go not found on PATH"

registry_up() { curl -fsS -o /dev/null --max-time 2 "http://$addr/v2/" 2>/dev/null; }

if registry_up; then
	echo "==> registry: reusing the one answering on $addr"
else
	mkdir -p "$storage" "$confdir" "$(dirname "$logfile")"
	cat >"$conf" <<EOF
# Written by berth's scripts/cri-conformance/build-images.sh.
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $addr
EOF
	if pid=$(registry_pid); then
		echo "==> registry: pid $pid exists but does not answer on $addr; restarting it"
		kill "$pid" 2>/dev/null || true
		sleep 1
	fi
	echo "==> registry: starting docker-registry on $addr (storage $storage, log $logfile)"
	# A session of its own: the registry outlives this script and make.
	setsid docker-registry serve "$conf" </dev/null >>"$logfile" 2>&1 &
	echo $! >"$pidfile"
	for _ in $(seq 1 50); do
		registry_up && break
		kill -0 "$(<"$pidfile")" 2>/dev/null || break
		sleep 0.2
	done
	registry_up || { tail -n 20 "$logfile" >&2; die "the registry did not come up on $addr"; }
	echo "==> registry: pid $(<"$pidfile")"
fi

# present REF: the registry has a manifest for REF's destination.
present() {
	local d repo tag
	d=$(dest "$1")
	repo=${d%:*} tag=${d##*:}
	curl -fsS -o /dev/null -I --max-time 5 \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		-H 'Accept: application/vnd.oci.image.index.v1+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
		"http://$addr/v2/$repo/manifests/$tag" 2>/dev/null
}

if [[ ! -f $stamp ]] || [[ $(<"$stamp") != "$recipe_version" ]]; then
	((force)) || [[ ! -f $stamp ]] || echo "==> images of another recipe version in $storage: rebuilding all"
	[[ -f $stamp ]] && force=1
fi
todo=()
for e in "${images[@]}"; do
	if ((force)) || ! present "${e%% *}"; then todo+=("$e"); fi
done
if ((${#todo[@]} == 0)); then
	echo "==> images: all ${#images[@]} references present in $addr, skipping (--force rebuilds)"
	echo "$recipe_version" >"$stamp"
	exit 0
fi
echo "==> images: ${#todo[@]} of ${#images[@]} references to build and push"

nice_cmd=()
((nice_n == 0)) || nice_cmd=(nice -n "$nice_n")

work=$(mktemp -d /tmp/cri-images.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

# ---- the static Go programs ----------------------------------------------------------
echo "==> building websrv, nonewprivs, pause (CGO_ENABLED=0)"
(cd "$here/images" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
	"${nice_cmd[@]}" go build -trimpath -ldflags '-s -w' -o "$work/gobin/" ./websrv ./nonewprivs ./pause)

# ---- the busybox base rootfs ---------------------------------------------------------
mkdir -p "$cachedir"
deb=$(ls "$cachedir"/busybox_*.deb 2>/dev/null | tail -n 1 || true)
if [[ -z $deb ]]; then
	echo "==> downloading Debian's busybox .deb (not installed)"
	(cd "$cachedir" && apt-get download -q -o APT::Sandbox::User=root busybox >/dev/null) ||
		{ apt-get update -qq && (cd "$cachedir" && apt-get download -q -o APT::Sandbox::User=root busybox >/dev/null); } ||
		die "apt-get download busybox failed"
	deb=$(ls "$cachedir"/busybox_*.deb | tail -n 1)
fi
dpkg-deb -x "$deb" "$work/deb"
bb=$work/deb/bin/busybox
[[ -x $bb ]] || die "$deb has no bin/busybox"
file -L "$bb" 2>/dev/null | grep -q 'statically linked' && die "$deb ships a static busybox; the glibc one is needed"

r=$work/rootfs/busybox
mkdir -p "$r"/{bin,sbin,dev,proc,sys,etc,root,home,tmp,run,var/run,var/www,var/spool/mail,usr/bin,usr/sbin,usr/local/bin}
chmod 1777 "$r/tmp"
chmod 700 "$r/root"
install -m 0755 "$bb" "$r/bin/busybox"
n_applets=0
for a in $("$bb" --list); do
	[[ $a == busybox || $a == */* ]] && continue
	ln "$r/bin/busybox" "$r/bin/$a"
	n_applets=$((n_applets + 1))
done
install -m 0755 "$(command -v ipcs)" "$r/usr/bin/ipcs"
install -m 0755 "$here/images/rootfs/usr/bin/pgrep" "$r/usr/bin/pgrep"
ln "$r/usr/bin/pgrep" "$r/usr/bin/pkill"
install -m 0644 "$here/images/rootfs/etc/passwd" "$here/images/rootfs/etc/group" "$r/etc/"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
# The shared libraries (and the loader) busybox and ipcs need, at the paths ldd names.
libs=$(ldd "$bb" "$(command -v ipcs)" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)
[[ -n $libs ]] || die "ldd found no libraries for busybox/ipcs"
for l in $libs; do
	mkdir -p "$r$(dirname "$l")"
	cp -L "$l" "$r$l"
done

# layer DIR TAR: a tar of DIR's contents (no "." entry), owned by root, fixed mtime;
# GNU tar keeps hard links as links.
layer() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort) |
		"${nice_cmd[@]}" tar -C "$1" --numeric-owner --owner=0 --group=0 --mtime=@0 --no-recursion -cf "$2" -T -
}

# ---- the OCI layout ------------------------------------------------------------------
oci=$work/oci
U() { "${nice_cmd[@]}" umoci "$@"; }
path_env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo "==> assembling images (busybox with $n_applets applets)"
U init --layout "$oci"
U new --image "$oci:empty"
U config --image "$oci:empty" --no-history --os linux --architecture amd64 --author berth-cri-conformance
layer "$r" "$work/busybox.tar"
U raw add-layer --image "$oci:empty" --tag busybox --history.created_by "busybox $(basename "$deb") + ipcs + pgrep" "$work/busybox.tar"
U config --image "$oci:busybox" --config.env "$path_env" --config.cmd sh --config.workingdir / \
	--history.created_by 'CMD ["sh"]'

# derive NEWTAG LAYERDIR [umoci config args...]: busybox + LAYERDIR, then the config.
derive() {
	local tag=$1 dir=$2
	shift 2
	layer "$dir" "$work/$tag.tar"
	U raw add-layer --image "$oci:busybox" --tag "$tag" --history.created_by "$tag layer" "$work/$tag.tar"
	(($# == 0)) || U config --image "$oci:$tag" --history.created_by "$tag config" "$@"
}

# tag_of RECIPE: its tag in the layout.
tag_of() { tr ':/' '__' <<<"$1"; }

# build_recipe RECIPE: puts the recipe's image into the layout under $(tag_of RECIPE),
# once.
declare -A built=()
build_recipe() {
	local recipe=$1 tag d
	tag=$(tag_of "$recipe")
	[[ -n ${built[$recipe]:-} ]] && return 0
	d=$work/layers/$tag
	mkdir -p "$d"
	case $recipe in
	busybox) ;;
	marker:*)
		echo "${recipe#marker:}" >"$d/${recipe#marker:}"
		derive "$tag" "$d"
		;;
	nginx:*)
		mkdir -p "$d/usr/sbin" "$d/etc/nginx/conf.d" "$d/usr/share/nginx/html" "$d/var/log/nginx"
		install -m 0755 "$work/gobin/websrv" "$d/usr/sbin/nginx"
		printf 'server {\n    listen       %s;\n    server_name  localhost;\n    root /usr/share/nginx/html;\n}\n' \
			"${recipe#nginx:}" >"$d/etc/nginx/conf.d/default.conf"
		printf '<h1>Welcome to nginx!</h1>\n' >"$d/usr/share/nginx/html/index.html"
		derive "$tag" "$d" --config.cmd nginx --config.cmd -g --config.cmd 'daemon off;' \
			--config.exposedports "${recipe#nginx:}/tcp"
		;;
	httpd)
		mkdir -p "$d/usr/local/apache2/bin" "$d/usr/local/apache2/conf" "$d/usr/local/apache2/htdocs" "$d/usr/local/bin"
		install -m 0755 "$work/gobin/websrv" "$d/usr/local/apache2/bin/httpd"
		ln "$d/usr/local/apache2/bin/httpd" "$d/usr/local/bin/httpd-foreground"
		printf 'Listen 80\n' >"$d/usr/local/apache2/conf/httpd.conf"
		printf '<html><body><h1>It works!</h1></body></html>\n' >"$d/usr/local/apache2/htdocs/index.html"
		derive "$tag" "$d" --config.env "PATH=/usr/local/apache2/bin:${path_env#PATH=}" \
			--config.env HTTPD_PREFIX=/usr/local/apache2 --config.workingdir /usr/local/apache2 \
			--config.cmd httpd-foreground --config.exposedports 80/tcp
		;;
	nonewprivs)
		mkdir -p "$d/usr/local/bin"
		install -m 4755 "$work/gobin/nonewprivs" "$d/usr/local/bin/nnp"
		derive "$tag" "$d" --clear config.cmd --config.entrypoint /usr/local/bin/nnp
		;;
	user:*)
		U config --image "$oci:busybox" --tag "$tag" --history.created_by "USER ${recipe#user:}" \
			--config.user "${recipe#user:}"
		;;
	predefined-group)
		mkdir -p "$d/etc" "$d/home/default-user"
		{ cat "$r/etc/passwd"; echo 'default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh'; } >"$d/etc/passwd"
		{ cat "$r/etc/group"; echo 'default-user:x:1000:'; echo 'group-defined-in-image:x:50000:default-user'; } >"$d/etc/group"
		derive "$tag" "$d" --config.user 1000
		;;
	pause)
		install -m 0755 "$work/gobin/pause" "$d/pause"
		layer "$d" "$work/$tag.tar"
		U raw add-layer --image "$oci:empty" --tag "$tag" --history.created_by "pause" "$work/$tag.tar"
		U config --image "$oci:$tag" --history.created_by 'ENTRYPOINT ["/pause"]' --config.env "$path_env" \
			--config.entrypoint /pause --config.user 65535:65535 --config.workingdir /
		;;
	*) die "unknown recipe '$recipe'" ;;
	esac
	built[$recipe]=1
}

# ---- push ----------------------------------------------------------------------------
echo "==> pushing to $addr"
pushed=0
for e in "${todo[@]}"; do
	ref=${e%% *} recipe=${e#* }
	build_recipe "$recipe"
	tag=$(tag_of "$recipe")
	"${nice_cmd[@]}" skopeo copy --quiet --dest-tls-verify=false "oci:$oci:$tag" "docker://$addr/$(dest "$ref")"
	printf '   %-62s <- %s\n' "$ref" "$recipe"
	pushed=$((pushed + 1))
done
for e in "${todo[@]}"; do
	present "${e%% *}" || die "${e%% *} is not in the registry after the push"
done
echo "$recipe_version" >"$stamp"
echo "==> images: pushed $pushed references to $addr in $((SECONDS - t0)) s"
