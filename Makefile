# Salon — `make demo` runs the whole thing on simulated hardware, `make test` proves it.
# Both set up a fresh Debian machine by themselves (apt, venv, pip) and are quick
# when already set up.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := janus chromium iproute2 util-linux libasound2-dev alsa-utils \
	fonts-dejavu-core libsystemd-dev pkg-config systemd sox nftables \
	coturn caddy openssl libnss3-tools postgresql nats-server haproxy redis-server
APT_STAMP := .stamp-apt
VENV_STAMP := $(VENV)/.stamp-$(shell cat pyproject.toml | md5sum | cut -c1-12)
NETNS := scripts/in-netns

SYSTEM_APT_PACKAGES := mmdebstrap debootstrap qemu-user-static binfmt-support systemd-container \
	arch-test qemu-system-arm qemu-efi-aarch64 rauc dosfstools mtools e2fsprogs fdisk \
	squashfs-tools openssl
SYSTEM_APT_STAMP := .stamp-apt-system

.PHONY: setup lint test test-fast demo bench image bundle image-test nspawn-test screenshots clean

setup: $(APT_STAMP) $(VENV_STAMP)

$(APT_STAMP):
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
		| grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null; \
	fi
	@# janus, coturn, caddy, postgresql, nats-server, haproxy and redis-server enable
	@# system services, some listening on all addresses. Tests run their own (Janus bound
	@# to 127.0.0.1, coturn and Caddy inside test namespaces, throwaway PostgreSQL
	@# clusters, NATS and HAProxy on 127.0.0.1), so the system ones must not run.
	@if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then \
		systemctl disable --now janus.service coturn.service caddy.service \
			postgresql.service nats-server.service haproxy.service \
			redis-server.service >/dev/null 2>&1 || true; fi
	@# Without systemd the packages' init scripts may have started them (as these users).
	@pkill -x janus -U 0 --parent 1 2>/dev/null || true
	@pkill -x turnserver -U turnserver --parent 1 2>/dev/null || true
	@pkill -x caddy -U caddy --parent 1 2>/dev/null || true
	@touch $@

$(VENV_STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip wheel 2>&1 | grep -v WARNING || true
	@$(PY) -m pip install -q -e '.[dev]' systemd-python 2>&1 | grep -v WARNING || true
	@$(PY) -c "import aiortc, av, pygame, gpiozero, alsaaudio, livekit, playwright, uvloop"
	@rm -f $(VENV)/.stamp-* && touch $@

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: setup lint $(SYSTEM_APT_STAMP)
	$(NETNS) $(VENV)/bin/pytest -q -ra --durations=25 $(PYTEST_ARGS)
	@echo "== the Debian package booted under systemd-nspawn (docs/operations.md)"
	SALON_SYSTEM_TESTS=1 $(VENV)/bin/pytest -q -ra --timeout 3600 \
		tests/ops/system/test_nspawn.py tests/ops/system/test_bridge_nspawn.py

test-fast: setup
	$(NETNS) $(VENV)/bin/pytest -q -ra -m "not slow" $(PYTEST_ARGS)

demo: setup
	$(NETNS) $(PY) scripts/demo.py

bench: setup
	$(NETNS) $(PY) tests/bench/run_all.py

# Heavier system tests (see docs/operations.md): the .deb booted under systemd-nspawn
# (about 3 min cold, 1.5 min warm) and installed in an arm64 rootfs under qemu (about 4 min).
$(SYSTEM_APT_STAMP):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $(SYSTEM_APT_PACKAGES) >/dev/null
	@touch $@

nspawn-test: setup $(SYSTEM_APT_STAMP)  # also part of `make test`
	SALON_SYSTEM_TESTS=1 $(VENV)/bin/pytest -q --timeout 3600 \
		tests/ops/system/test_nspawn.py tests/ops/system/test_bridge_nspawn.py

# The flashable Pi image from Debian's archive (image-build/README.md): build/image/
# salon-<version>-arm64.img, its .sha256 and package manifest. The base rootfs is cached
# in /var/cache/salon (first build ~20 min on 2 cores, then ~3 min).
image: setup $(SYSTEM_APT_STAMP)
	image-build/debian/build.sh image

# Signed RAUC update bundles of the same rootfs (build/image/salon-good.raucb), and one
# whose appliance cannot start (salon-broken.raucb: the rollback test's).
bundle: setup $(SYSTEM_APT_STAMP)
	image-build/debian/build.sh bundle
	image-build/debian/build.sh bundle --bundle-variant broken

# The arm64 package in a rootfs under qemu-user, then the image booted under
# qemu-system-aarch64 into a meeting, updated and rolled back (tests/ops/system/).
image-test: setup $(SYSTEM_APT_STAMP) image bundle
	SALON_SYSTEM_TESTS=1 $(VENV)/bin/pytest -q -ra --timeout 7200 \
		tests/ops/system/test_image_arm64.py tests/ops/system/test_image_qemu.py

screenshots: setup
	SDL_VIDEODRIVER=dummy $(VENV)/bin/salon-appliance screenshots docs/screens

clean:
	rm -rf $(VENV) $(APT_STAMP) build *.egg-info
