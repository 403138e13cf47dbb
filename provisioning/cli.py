"""Provisioning's commands: `samplepoint enrol`, `provision`, `prepare-sd`, `doctor`, `update`,
`apt-repo`."""
from __future__ import annotations

from samplepoint.commands import config_of


def cmd_enrol(args) -> int:
    from provisioning.enrol import main
    return main(args, config_of(args))


def cmd_provision(args) -> int:
    from provisioning.provision import main
    return main(args)


def cmd_prepare_sd(args) -> int:
    from provisioning.sdcard import main
    return main(args)


def cmd_doctor(args) -> int:
    from provisioning.doctor import main
    return main(args)


def cmd_update(args) -> int:
    from provisioning.update import main
    return main(args)


def cmd_apt_repo(args) -> int:
    from provisioning.aptrepo import main
    return main(args)


def register(sub, with_config) -> None:
    """enrol, provision, prepare-sd, doctor."""
    p = with_config(sub.add_parser("enrol", help="exchange the enrolment code for a device token"))
    p.add_argument("--code", help="the campaign code (else read from --code-file)")
    p.add_argument("--code-file", help="file holding the code (default DATA_DIR/enrol-code)")
    p.add_argument("--boot-copy", action="append", default=[],
                   help="another copy of the code to delete after use (repeatable)")
    p.add_argument("--retry-for", type=float, default=0.0,
                   help="keep retrying network failures for this many seconds")
    p.set_defaults(func=cmd_enrol)

    p = sub.add_parser("provision", help="set up this Pi (or a directory tree) as a device")
    p.add_argument("--root", help="provision into this directory tree instead of the running system")
    p.add_argument("--config", help="device config to install (default: keep or write the example)")
    p.add_argument("--source", help="samplepoint .deb, wheel, folder of wheels, source checkout, or "
                   "'repository' (apt, from [update])")
    p.add_argument("--wheels", help="folder of dependency wheels: install with no package index")
    p.add_argument("--enrol-code-file", help="campaign code to put in place for first boot")
    p.add_argument("--central", action="store_true", help="also install the central server unit")
    p.add_argument("--apt-key", help="public key of the apt repository in [update] (docs/updating.md)")
    p.add_argument("--package", choices=["install", "upgrade"], help="run by the .deb's postinst")
    p.set_defaults(func=cmd_provision)

    p = sub.add_parser("prepare-sd", help="write a site's first-boot settings onto a card's boot partition")
    p.add_argument("--sites", required=True, help="CSV of sites (see docs/install-pi.md)")
    p.add_argument("--check", action="store_true", help="only validate the CSV (and --base-config); no card")
    p.add_argument("--base-config", help="campaign-wide config TOML; each site's row goes over it")
    p.add_argument("--device", help="device_id of the row to write (default: the only row)")
    p.add_argument("--enrol-code", help="campaign enrolment code (or --enrol-code-file)")
    p.add_argument("--enrol-code-file", help="file holding the campaign enrolment code")
    p.add_argument("--central-ca", help="PEM CA certificate of central's TLS certificate: pinned "
                   "on the device (central.ca_bundle), installed at first boot")
    p.add_argument("--style", choices=["bookworm", "trixie"],
                   help="the card's Raspberry Pi OS (default: read off the card; a mismatch is refused)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--boot", help="mounted boot partition folder")
    target.add_argument("--image", help="FAT partition image file, written with mtools")
    p.add_argument("--image-offset", type=int, default=0,
                   help="byte offset of the FAT partition inside --image (whole-disk images)")
    p.set_defaults(func=cmd_prepare_sd)

    p = with_config(sub.add_parser("doctor", help="check camera, radio, uplink, central, clock, disk, services"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)

    p = with_config(sub.add_parser("update", help="install the newest samplepoint (or --version) from "
                                   "the apt repository in [update]; restarts the services"))
    p.add_argument("--version", help="install this version instead (a rollback: older is allowed)")
    p.add_argument("--list", action="store_true", help="only list the versions the repository offers")
    p.set_defaults(func=cmd_update)

    p = sub.add_parser("apt-repo", help="keep the signed apt repository devices update from (aptly)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("init", "make the signing key and the repository (once)"),
                       ("add", "add .deb files and publish the repository again, signed"),
                       ("list", "the versions published, per architecture")):
        q = actions.add_parser(name, help=text)
        q.add_argument("--repo", required=True, help="the repository's folder (serve its www/)")
        q.add_argument("--suite", default="bookworm", help="distribution name (devices' [update] suite)")
        q.add_argument("--gnupghome", help="GnuPG home with the signing key (default REPO/gnupg)")
        if name == "add":
            q.add_argument("debs", nargs="+", metavar="DEB")
        q.set_defaults(func=cmd_apt_repo)
