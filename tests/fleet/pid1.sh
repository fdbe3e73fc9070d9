#!/bin/sh
# PID 1 of a fleet host, until it execs systemd.  Runs inside fresh pid,
# mount, uts and cgroup namespaces (and the host's netns), as root.
#
# It builds the host's root: a READ-ONLY bind of the machine's / (systemd's
# boot empties /tmp and would otherwise do it on the real disk), private
# tmpfs where systemd writes, the fleet's files bound over /etc, the shared
# homes read-write, then pivots into it and becomes systemd.
#
# usage: pid1.sh HOSTNAME HOSTDIR HOMES
set -eu
host=$1 hd=$2 homes=$3
R=$hd/root

hostname "$host"
mount --make-rprivate /
mkdir -p "$R"
mount --rbind / "$R"
mount -o remount,bind,ro "$R"
for d in run tmp var/tmp var/log var/lib/systemd etc/systemd/system; do
    mount -t tmpfs -o mode=0755 tmpfs "$R/$d"
done
chmod 1777 "$R/tmp" "$R/var/tmp"

# cgroups of this host only (the launcher put us in our own cgroup first).
# `ip netns exec` gave us a fresh sysfs without the cgroup mounts: make them.
mount -t tmpfs -o mode=0755 tmpfs "$R/sys/fs/cgroup"
mkdir "$R/sys/fs/cgroup/systemd" "$R/sys/fs/cgroup/unified"
mount -t cgroup -o none,name=systemd cgroup "$R/sys/fs/cgroup/systemd"
mount -t cgroup2 cgroup2 "$R/sys/fs/cgroup/unified"

for f in hostname machine-id hosts passwd group shadow; do
    mount --bind "$hd/etc/$f" "$R/etc/$f"
done
mount --bind "$hd/ssh" "$R/etc/ssh"
mount --bind "$hd/bin" "$R/usr/local/bin"
mount --bind "$homes" "$R$homes"
# The host's own sudoers.d (empty until a test writes a rule): the machine's
# /etc/sudoers.d is never seen, never written.
if [ -d "$R/etc/sudoers.d" ]; then
    mount --bind "$hd/sudoers.d" "$R/etc/sudoers.d"
fi
cp -a "$hd/system/." "$R/etc/systemd/system/"

cd "$R"
pivot_root . srv
umount -l /srv
cd /
exec /lib/systemd/systemd --system --unit=fleet.target
