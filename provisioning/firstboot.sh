#!/bin/bash
# samplepoint first boot: applies what `samplepoint prepare-sd` left on the card's boot partition.
# Run by samplepoint-firstboot.service before every samplepoint service, on both Raspberry Pi OS
# styles (Bookworm firstrun.sh and Trixie cloud-init are left to the Raspberry Pi Imager).
#   - sets the hostname from samplepoint/hostname
#   - installs samplepoint/central-ca.pem (prepare-sd --central-ca) as /etc/samplepoint/central-ca.pem
#   - moves samplepoint/samplepoint.toml to /etc/samplepoint and samplepoint/enrol-code to
#     /var/lib/samplepoint (0600, the service user's), deleting the boot copy of the code at once:
#     the boot partition is readable by every local user
#   - gives the device its own SSH host keys (cards written from one golden image share them)
#   - renames the card's config to samplepoint.toml.applied, so the next boot does nothing
# Usage: firstboot.sh [BOOT_DIR]     (default: /boot/firmware, else /boot)
# SAMPLEPOINT_ROOT (tests only) prefixes every system path and skips what would touch the host.
set -u
R="${SAMPLEPOINT_ROOT:-}"
if [ -n "${1:-}" ]; then
    BOOT="$1"
elif [ -d "$R/boot/firmware/samplepoint" ] || [ ! -d "$R/boot/samplepoint" ]; then
    BOOT="$R/boot/firmware"
else
    BOOT="$R/boot"
fi
SRC="$BOOT/samplepoint"
umask 077
log() { echo "samplepoint-firstboot: $*"; }
fail=0

new_host_keys() {
    [ -x "$R/usr/bin/ssh-keygen" ] || return 0
    if [ -n "$R" ]; then log "test root: SSH host keys left alone"; return 0; fi
    rm -f /etc/ssh/ssh_host_*key /etc/ssh/ssh_host_*key.pub
    ssh-keygen -A >/dev/null && log "new SSH host keys: $(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub 2>/dev/null | cut -d' ' -f2)"
}

if [ -f "$SRC/samplepoint.toml" ]; then
    HOST="$(tr -d ' \t\r\n' < "$SRC/hostname" 2>/dev/null)"
    if [ -n "$HOST" ] && [ "$(cat "$R/etc/hostname" 2>/dev/null)" != "$HOST" ]; then
        OLD="$(tr -d ' \t\r\n' < "$R/etc/hostname" 2>/dev/null)"
        echo "$HOST" > "$R/etc/hostname" && chmod 644 "$R/etc/hostname"
        if [ -n "$OLD" ] && grep -q "127.0.1.1" "$R/etc/hosts" 2>/dev/null; then
            sed -i "s/^127\.0\.1\.1.*/127.0.1.1\t${HOST}/" "$R/etc/hosts"
        else
            printf '127.0.1.1\t%s\n' "$HOST" >> "$R/etc/hosts"
        fi
        [ -z "$R" ] && hostname "$HOST" 2>/dev/null
        log "hostname $HOST"
    fi
    install -d -m 0750 "$R/etc/samplepoint"
    install -d -m 0700 "$R/var/lib/samplepoint"
    if install -m 0600 "$SRC/samplepoint.toml" "$R/etc/samplepoint/samplepoint.toml"; then
        log "site config installed in /etc/samplepoint/samplepoint.toml"
    else
        log "FAILED to install the site config; services keep the image's config"; fail=1
    fi
    if [ -f "$SRC/central-ca.pem" ]; then
        if install -m 0644 "$SRC/central-ca.pem" "$R/etc/samplepoint/central-ca.pem"; then
            log "central's CA installed in /etc/samplepoint/central-ca.pem (central.ca_bundle)"
        else
            log "FAILED to install central's CA"; fail=1
        fi
    fi
    if [ -f "$SRC/enrol-code" ]; then
        if install -m 0600 "$SRC/enrol-code" "$R/var/lib/samplepoint/enrol-code"; then
            shred -u "$SRC/enrol-code" 2>/dev/null || rm -f "$SRC/enrol-code"
            log "enrolment code moved off the boot partition"
        else
            log "FAILED to move the enrolment code"; fail=1
        fi
    fi
    if [ -z "$R" ] && id samplepoint >/dev/null 2>&1; then
        chown samplepoint:samplepoint /etc/samplepoint/samplepoint.toml /var/lib/samplepoint
        [ -f /var/lib/samplepoint/enrol-code ] && chown samplepoint:samplepoint /var/lib/samplepoint/enrol-code
        chgrp samplepoint /etc/samplepoint
    fi
    new_host_keys
    if [ -x "$R/opt/samplepoint/venv/bin/samplepoint" ] && [ -z "$R" ]; then
        /opt/samplepoint/venv/bin/samplepoint config check --config /etc/samplepoint/samplepoint.toml \
            || log "the card's config is refused (see above): fix sites.csv and run prepare-sd again"
    fi
    if [ "$fail" = 0 ]; then
        mv -f "$SRC/samplepoint.toml" "$SRC/samplepoint.toml.applied"
        log "card settings applied; this is not repeated on the next boot"
    fi
elif ! ls "$R"/etc/ssh/ssh_host_*_key >/dev/null 2>&1; then
    new_host_keys
fi
exit "$fail"
