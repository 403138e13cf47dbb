# The README's two commands: `make demo` and `make test`. Each sets itself up on a fresh machine.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
# System packages: what the product needs at run time, and what the tests drive for real.
APT_RUNTIME := libzbar0 fonts-dejavu-core iw
APT_TEST := hostapd dnsmasq-base busybox nftables iproute2 mtools dosfstools chromium chromium-driver cage systemd systemd-container mmdebstrap postgresql
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench venv apt-runtime apt-test clean

demo: venv
	$(VENV)/bin/samplepoint demo

test: venv apt-test
	$(VENV)/bin/pip install -q -e '.[test]'
	$(PY) -m pytest -q tests

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

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache test-artifacts
