#!/bin/sh
# Start one fleet host: systemd as PID 1 in its own namespaces.
#
#   hostinit.sh boot <host dir> <netns> <cgroup.procs file>...
#       (setsid, stdin /dev/null, output to the host's log) moves itself into
#       the host's own cgroups, then re-enters itself as `init` inside the
#       host's netns and new cgroup/pid/mount/uts namespaces.
#   hostinit.sh init <host dir>
#       PID 1 of the new pid namespace: builds the host's root and execs
#       systemd. <host dir>/mounts.tsv says what to bind where.
#
# Safety rules (see shared/test-fleet.md): systemd must never see the
# machine's writable root. Its boot empties /tmp, so the new root is a
# READ-ONLY rbind of / with private tmpfs on the paths systemd writes, and
# only the shared homes bound read-write.
set -eu

stage=$1
hostdir=$2
shift 2

if [ "$stage" = boot ]; then
    netns=$1
    shift
    for procs in "$@"; do
        echo $$ >"$procs"
    done
    exec ip netns exec "$netns" unshare --cgroup --pid --fork --mount --uts \
        --mount-proc --propagation private "$0" init "$hostdir"
fi

[ "$stage" = init ] || { echo "usage: $0 boot|init ..." >&2; exit 2; }

R=$hostdir/root
hostname "$(cat "$hostdir/hostname")"
mount --make-rprivate /
mount --rbind / "$R"
# Read-only: the root and every mount under it that is not an API file
# system (a per-mount flag: the real disk stays read-write for everyone else).
mount -o remount,bind,ro "$R"
awk -v r="$R" '$5 ~ "^" r "/" {print $5}' /proc/self/mountinfo | while read -r mp; do
    case "$mp" in
        "$R"/dev|"$R"/dev/*|"$R"/proc|"$R"/proc/*) ;;
        *) mount -o remount,bind,ro "$mp" ;;
    esac
done
# Kernel-wide knobs stay out of reach (systemd-sysctl and friends).
mount --bind "$R/proc/sys" "$R/proc/sys"
mount -o remount,bind,ro "$R/proc/sys"

for d in run var/log var/lib/systemd etc/systemd/system; do
    mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/$d"
done
for d in tmp var/tmp dev/shm; do
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/$d"
done

# Fresh cgroup hierarchies rooted at this host's own cgroup (cgroup ns).
mount -t tmpfs -o mode=0755,nosuid,nodev,noexec tmpfs "$R/sys/fs/cgroup"
if [ "$(cat "$hostdir/cgroup-layout")" = unified ]; then
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup"
else
    mkdir "$R/sys/fs/cgroup/systemd" "$R/sys/fs/cgroup/unified"
    mount -t cgroup -o none,name=systemd,nosuid,nodev,noexec cgroup "$R/sys/fs/cgroup/systemd"
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$R/sys/fs/cgroup/unified"
fi

cp -a "$hostdir/systemd/." "$R/etc/systemd/system/"

# mounts.tsv: <mode ro|rw> TAB <source> TAB <target inside the host>
tab=$(printf '\t')
while IFS="$tab" read -r mode src dst; do
    mount --bind "$src" "$R$dst"
    if [ "$mode" = ro ]; then
        mount -o remount,bind,ro "$R$dst"
    fi
done <"$hostdir/mounts.tsv"

cd "$R"
pivot_root . .
umount -l .
cd /
# container=: systemd skips what would touch the machine (swapoff, loop
# and DM detach at shutdown, kmsg, module loading) and powers off by exiting.
exec env -i container=barnum-fleet PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --system --unit=barnum-host.target --log-target=console
