# The README's two commands: `make demo` and `make test`. Each sets itself up on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# System packages: what the product needs at run time, and what the tests drive for real.
# The apt repository is built with aptly; reprepro is not needed (Debian 12's reprepro keeps one
# version per architecture, and a rollback needs two: provisioning/aptrepo.py).
APT_RUNTIME := libzbar0 fonts-dejavu-core iw libusb-1.0-0
# qemu-system-x86, qemu-utils, e2fsprogs and socat: the virtual Pi of tests/vm.
APT_TEST := hostapd dnsmasq-base busybox nftables iproute2 mtools dosfstools chromium chromium-driver cage systemd systemd-container mmdebstrap openssl postgresql aptly gnupg poppler-utils udev qemu-system-x86 qemu-utils e2fsprogs socat
APT_ARM64 := qemu-user-static binfmt-support arch-test
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-vm test-arm64 bench venv apt-runtime apt-test apt-arm64 clean deb apt-repo

demo: venv
	$(VENV)/bin/samplepoint demo

test: venv apt-test
	$(VENV)/bin/pip install -q -e '.[test]'
	$(PY) -m pytest -q tests --ignore=tests/vm

# The virtual Pi (tests/vm: QEMU on a real kernel): its own target until it fits CI's time on
# these 2-core machines (a loaded machine took about 25 minutes for the two hotspot scenarios);
# VM_CUTS=N power cuts, SAMPLEPOINT_VM_SEED=N for other cut moments.
VM_CUTS ?= 10
test-vm: venv apt-test
	$(VENV)/bin/pip install -q -e '.[test]'
	SAMPLEPOINT_VM_CUTS=$(VM_CUTS) $(PY) -m pytest -q tests/vm

# Not in CI's default run (about 15 minutes cold): samplepoint on an emulated arm64 Debian (qemu).
test-arm64: venv apt-test apt-arm64
	$(PY) -m tests.arm64

# The Debian package of this checkout (docs/updating.md): DEB_ARCH=arm64 for a Raspberry Pi,
# SAMPLEPOINT_VERSION=... to override setup.py's version.
DEB_ARCH ?=
DIST ?= dist
deb: venv
	$(PY) -m provisioning.debpackage --out $(DIST) $(if $(DEB_ARCH),--arch $(DEB_ARCH))

# Add the packages in $(DIST) to the signed apt repository in APT_REPO (made on first use); serve
# $(APT_REPO)/www over HTTP.
APT_REPO ?= apt-repo
apt-repo: deb apt-test
	@test -f $(APT_REPO)/aptly.conf || $(VENV)/bin/samplepoint apt-repo init --repo $(APT_REPO)
	$(VENV)/bin/samplepoint apt-repo add --repo $(APT_REPO) $(DIST)/samplepoint_*.deb

bench: venv
	$(PY) -m benchmarks.run

venv: $(VENV)/.installed

$(VENV)/.installed: setup.py | apt-runtime
	@test -x $(PY) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip >/dev/null
	$(VENV)/bin/pip install -q -e '.[test]'
	@touch $@

# Install apt packages only when missing (dpkg-query tells which are absent).
define apt_install
	@missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

apt-runtime:
	$(call apt_install,$(APT_RUNTIME))

apt-test: apt-runtime
	$(call apt_install,$(APT_TEST))

apt-arm64:
	$(call apt_install,$(APT_ARM64))

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache test-artifacts $(DIST)
