#!/usr/bin/env bash
# Raspberry Pi check under emulation: builds a Debian 12 (bookworm) root file system for a Pi's
# CPU (arm64 = 64-bit Pi OS / aarch64; armhf = 32-bit Pi OS / armv7l) with debootstrap and
# qemu-user-static, installs this working tree with ./setup.sh inside it (chroot), runs there
#   edgeface models; edgeface verify --json on three bundled photo pairs (two same, one different);
#   edgeface enroll (the demo gallery) and the daemon, edgeface run --print-events, on the bundled
#   clip's first 100 frames (--frames), with a local mosquitto; the web console on that store
#   (logged in, every page and picture, an upload enrolled; SciPy's grouping)
# and the same on this machine (x86-64, ./.venv), then compares: same models, verdicts and exit codes,
# the same daemon events (type, person, track id), similarities within 0.01. Prints a table and
# exits 1 on a mismatch. Timings are under emulation (qemu), not a Pi's speed.
#
#   sudo tools/pi-check.sh [--arch arm64|armhf] [--workdir DIR] [--fresh] [--frames N] [--tol 0.01]
#
#   --arch     arm64 (default) or armhf
#   --workdir  default build/pi-<arch>; holds rootfs/ (reused by later runs), logs, host.json,
#              <arch>.json, timings.txt
#   --fresh    delete and rebuild the root file system (otherwise it is reused when complete;
#              the project copy inside is always refreshed, its .venv kept unless --fresh)
#   --frames   cut the clip to its first N frames for both sides (on the host, lossless FFV1 .mkv,
#              so the frames are the original's); default 100 (both of the clip's events; the
#              whole clip, 275 frames, takes about 12 minutes emulated); 0: the whole clip
#   --tol      largest similarity difference that still matches (default 0.01)
#
# Host prerequisites (Debian 12, root): debootstrap, and qemu-user-static >= 8 from bookworm-backports
# (bookworm's qemu 7.2 segfaults inside LiteRT):
#   echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list
#   apt-get update && apt-get install -y debootstrap && apt-get install -y -t bookworm-backports qemu-user-static
# and the qemu binfmt handlers registered (with the F flag, so the chroot needs no qemu copy; the
# package registers them through systemd-binfmt; in a container: mount binfmt_misc first).
# Network: deb.debian.org (debootstrap) and PyPI (setup.sh inside the chroot).
set -euo pipefail
# All in one function, parsed before anything runs: editing this file during a run cannot derail it.
main() {
cd "$(dirname "$0")/.."
ROOT=$PWD
arch=arm64; work=""; fresh=0; frames=100; tol=0.01
MIRROR=${MIRROR:-http://deb.debian.org/debian}
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=$2; shift ;;
    --workdir) work=$2; shift ;;
    --fresh) fresh=1 ;;
    --frames) frames=$2; shift ;;
    --tol) tol=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "pi-check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$arch" in
  arm64) qarch=aarch64; pkgs=python3,python3-venv,python3-pip,ca-certificates,mosquitto ;;
  # 32-bit: PyPI has no armv7l wheels of numpy<2, opencv-python-headless or pyyaml: Debian's instead.
  armhf) qarch=arm; pkgs=python3,python3-venv,python3-pip,ca-certificates,mosquitto,python3-numpy,python3-opencv,python3-yaml,python3-scipy ;;
  *) echo "pi-check: --arch must be arm64 or armhf, not $arch" >&2; exit 2 ;;
esac
work=$(realpath -m "${work:-build/pi-$arch}")
rootfs=$work/rootfs
mkdir -p "$work"
T0=$(date +%s)
timings=$work/timings.txt
: > "$timings"
log_time() { echo "$1: $2 s" | tee -a "$timings"; }
die() { echo "pi-check: $*" >&2; exit 1; }

# --- host prerequisites -------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mount)"
command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install debootstrap"
qemu=$(command -v "qemu-$qarch-static" || true)
[ -n "$qemu" ] || die "qemu-$qarch-static missing: apt-get install -t bookworm-backports qemu-user-static (see the header)"
qver=$("$qemu" --version | sed -n '1s/.*version \([0-9]*\)\..*/\1/p')
[ "${qver:-0}" -ge 8 ] || die "qemu $("$qemu" --version | head -1) is too old (LiteRT segfaults under bookworm's 7.2): apt-get install -t bookworm-backports qemu-user-static"
bf=/proc/sys/fs/binfmt_misc
[ -e $bf/status ] || mount -t binfmt_misc binfmt_misc $bf 2>/dev/null || die "binfmt_misc is not mounted and cannot be: mount -t binfmt_misc binfmt_misc $bf"
if ! grep -qx enabled "$bf/qemu-$qarch" 2>/dev/null; then
  # The package's handler file (systemd-binfmt format); register it by hand when systemd did not.
  conf=/usr/lib/binfmt.d/qemu-$qarch.conf
  [ -e "$bf/qemu-$qarch" ] || { [ -f "$conf" ] && cat "$conf" > $bf/register; } || true
  [ -e "$bf/qemu-$qarch" ] && echo 1 > "$bf/qemu-$qarch"
  grep -qx enabled "$bf/qemu-$qarch" 2>/dev/null \
    || die "no enabled binfmt handler qemu-$qarch in $bf: systemctl restart systemd-binfmt, or update-binfmts --enable qemu-$qarch"
fi
interp=$(sed -n 's/^interpreter //p' "$bf/qemu-$qarch")
flags=$(sed -n 's/^flags: //p' "$bf/qemu-$qarch")
echo "host: $(uname -m), $("$qemu" --version | head -1), binfmt qemu-$qarch -> $interp (flags $flags)"

# --- root file system (cached) ------------------------------------------------------------------
mounts() { awk -v r="$rootfs" 'index($2, r "/") == 1 {print $2}' /proc/mounts | sort -r; }
cleanup() { for m in $(mounts); do umount -l "$m" || true; done; }
trap cleanup EXIT
cleanup
if [ "$fresh" = 1 ] && [ -d "$rootfs" ]; then
  [ -z "$(mounts)" ] || die "file systems are still mounted under $rootfs; not deleting it"
  rm -rf --one-file-system "$rootfs"
fi
if [ -f "$rootfs/.pi-check-complete" ]; then
  echo "rootfs: reusing $rootfs (--fresh to rebuild)"
  log_time "rootfs (reused)" 0
else
  t=$(date +%s)
  rm -rf --one-file-system "$rootfs.tmp"
  echo "rootfs: debootstrap bookworm $arch into $rootfs (log: $work/debootstrap.log) ..."
  debootstrap --arch="$arch" --variant=minbase --include="$pkgs" bookworm "$rootfs.tmp" "$MIRROR" > "$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
  rm -rf --one-file-system "$rootfs"
  mv "$rootfs.tmp" "$rootfs"
  echo "$arch $(date -u +%FT%TZ) $pkgs" > "$rootfs/.pi-check-complete"
  log_time "rootfs build (debootstrap $arch)" $(( $(date +%s) - t ))
fi
# Without the F flag the kernel opens the interpreter inside the chroot: put it there.
case "$flags" in *F*) ;; *) mkdir -p "$rootfs$(dirname "$interp")"; cp -L "$qemu" "$rootfs$interp" ;; esac
mount -t proc proc "$rootfs/proc"
mount -t sysfs sys "$rootfs/sys"
mount --bind /dev "$rootfs/dev"
mount -t devpts devpts "$rootfs/dev/pts" -o newinstance,ptmxmode=0666 2>/dev/null || true
cp -L /etc/resolv.conf "$rootfs/etc/resolv.conf"
# Behind a TLS-inspecting proxy: the rootfs trusts the host's local CAs too (pip inside uses the system store).
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$rootfs/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
  chroot "$rootfs" update-ca-certificates >/dev/null 2>&1 || echo "pi-check: update-ca-certificates failed inside the rootfs" >&2
fi
inside() { chroot "$rootfs" /usr/bin/env -i HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin bash -c "$1"; }
# shellcheck disable=SC2016  # expanded inside the rootfs
echo "inside: $(inside 'uname -m; . /etc/os-release; echo $PRETTY_NAME; python3 --version' | tr '\n' ' ')"

# --- the project: this working tree's tracked and untracked (not ignored) files -----------------
proj=$rootfs/opt/edgeface
[ "$fresh" = 1 ] && rm -rf --one-file-system "$proj"
mkdir -p "$proj"
find "$proj" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar -c --null -T - -f - | tar -x -C "$proj" -f -
clip=$ROOT/firmware_configs/demo/short_hamilton_clip.mp4
if [ "$frames" -gt 0 ]; then
  [ -x .venv/bin/python ] || ./setup.sh
  .venv/bin/python tools/pi_check.py cut "$clip" "$work/clip.mkv" --frames "$frames"
  clip=$work/clip.mkv
fi
cp "$clip" "$rootfs/opt/clip.${clip##*.}"

# --- setup.sh inside ----------------------------------------------------------------------------
t=$(date +%s)
echo "setup: ./setup.sh inside the $arch rootfs (log: $work/setup.log) ..."
inside 'cd /opt/edgeface && ./setup.sh' > "$work/setup.log" 2>&1 || { tail -n 30 "$work/setup.log" >&2; die "setup.sh failed inside the rootfs (log: $work/setup.log)"; }
log_time "setup.sh inside ($arch, emulated)" $(( $(date +%s) - t ))
inside '/opt/edgeface/.venv/bin/pip list 2>/dev/null' > "$work/pip-list.txt"

# --- the commands, inside and on the host -------------------------------------------------------
t=$(date +%s)
echo "collect: inside the $arch rootfs (emulated) ..."
inside "cd /opt/edgeface && .venv/bin/python tools/pi_check.py collect --out /opt/$arch.json --clip /opt/clip.${clip##*.}" 2>&1 \
  | tee "$work/collect-$arch.log" || die "the commands failed inside the rootfs (log: $work/collect-$arch.log)"
cp "$rootfs/opt/$arch.json" "$work/$arch.json"
log_time "commands inside ($arch, emulated)" $(( $(date +%s) - t ))
t=$(date +%s)
echo "collect: on this machine ($(uname -m), ./.venv) ..."
[ -x .venv/bin/edgeface ] || ./setup.sh
.venv/bin/python tools/pi_check.py collect --out "$work/host.json" --clip "$clip" 2>&1 | tee "$work/collect-host.log" \
  || die "the commands failed on this machine (log: $work/collect-host.log)"
log_time "commands on the host" $(( $(date +%s) - t ))
log_time "total" $(( $(date +%s) - T0 ))

# --- compare ------------------------------------------------------------------------------------
echo
rc=0
python3 tools/pi_check.py compare --tol "$tol" "$work/host.json" "$work/$arch.json" | tee "$work/compare.txt" || rc=$?
echo "timings (also in $timings):"
cat "$timings"
exit "$rc"
}
main "$@"
