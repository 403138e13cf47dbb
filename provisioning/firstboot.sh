#!/bin/bash
# samplepoint first boot, shared by both Raspberry Pi OS styles (firstrun.sh and cloud-init).
# Moves this device's config and enrolment code off the boot partition (mounted world-readable)
# into place with mode 0600, then lets samplepoint-enrol.service trade the code for a token.
# Usage: firstboot.sh HOSTNAME BOOT_DIR
# SAMPLEPOINT_ROOT (tests only) prefixes every system path and skips what would touch the host.
set -u
HOST="$1"
BOOT="${2:-/boot/firmware}"
SRC="$BOOT/samplepoint"
R="${SAMPLEPOINT_ROOT:-}"
umask 077
log() { echo "samplepoint-firstboot: $*"; }

if [ -n "$HOST" ] && [ "$(cat "$R/etc/hostname" 2>/dev/null)" != "$HOST" ]; then
    OLD="$(cat "$R/etc/hostname" 2>/dev/null | tr -d ' \t\r\n')"
    echo "$HOST" > "$R/etc/hostname"
    chmod 644 "$R/etc/hostname"
    [ -n "$OLD" ] && sed -i "s/127.0.1.1.*${OLD}/127.0.1.1\t${HOST}/g" "$R/etc/hosts"
    [ -z "$R" ] && hostname "$HOST" 2>/dev/null
    log "hostname set"
fi

install -d -m 0750 "$R/etc/samplepoint"
install -d -m 0700 "$R/var/lib/samplepoint"
if [ -f "$SRC/samplepoint.toml" ]; then
    install -m 0600 "$SRC/samplepoint.toml" "$R/etc/samplepoint/samplepoint.toml"
    log "config installed"
fi
if [ -f "$SRC/enrol-code" ]; then
    install -m 0600 "$SRC/enrol-code" "$R/var/lib/samplepoint/enrol-code"
    # The boot copy goes now: the boot partition is readable by every local user.
    shred -u "$SRC/enrol-code" 2>/dev/null || rm -f "$SRC/enrol-code"
    log "enrolment code moved off the boot partition"
fi

if [ -n "$R" ]; then
    log "test root: provision skipped"
elif [ -x /opt/samplepoint/venv/bin/samplepoint ]; then
    /opt/samplepoint/venv/bin/samplepoint provision --config /etc/samplepoint/samplepoint.toml \
        || log "provision failed: run 'samplepoint doctor' and see docs/install-pi.md"
    systemctl enable samplepoint-enrol.service
else
    log "samplepoint is not installed in this image: see docs/install-pi.md (image build)"
fi
if [ -z "$R" ] && id samplepoint >/dev/null 2>&1; then
    chown samplepoint:samplepoint /etc/samplepoint/samplepoint.toml /var/lib/samplepoint \
        /var/lib/samplepoint/enrol-code 2>/dev/null
    chgrp samplepoint /etc/samplepoint
fi
exit 0
