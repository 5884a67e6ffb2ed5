# tunnel-client: the two commands a newcomer needs are `make demo` and `make test`.
# Everything up to `install` needs only a Rust toolchain, make and curl; the
# packaging targets below it say which Debian tools they use (.ci/run installs them).

CARGO ?= cargo
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
RELEASE_DIR := target/release

# Installation layout (GNU names); DESTDIR stages into a package root.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
# NOBUILD=1: install what target/release already holds (packagers who built).
NOBUILD ?=
# OFFLINE=1: build from vendor/ only (`make vendor`, or a `make dist-src` tarball).
OFFLINE ?=
OFFLINE_FLAGS := $(if $(OFFLINE),--offline --locked --frozen,--locked)

# Reproducible release binaries: the same commit gives the same bytes whatever
# the checkout directory, CARGO_HOME, or whether crates come from the registry
# or from vendor/ (both are remapped to one name; `cargo vendor --versioned-dirs`
# keeps the registry's directory names). No build step reads a clock.
CARGO_HOME_DIR := $(or $(CARGO_HOME),$(HOME)/.cargo)
REGISTRY_SRC := $(wildcard $(CARGO_HOME_DIR)/registry/src/*)
PATH_MAPS := $(CARGO_HOME_DIR)=/cargo \
	$(foreach dir,$(REGISTRY_SRC),$(dir)=/cargo/crates) \
	$(CURDIR)=/build/tunnel-client \
	$(CURDIR)/vendor=/cargo/crates
# Later maps win in both rustc and gcc, so the most specific come last.
RELEASE_RUSTFLAGS := $(strip $(RUSTFLAGS) $(foreach map,$(PATH_MAPS),--remap-path-prefix=$(map)))
RELEASE_CFLAGS := $(strip $(CFLAGS) $(foreach map,$(PATH_MAPS),-ffile-prefix-map=$(map)))
# Tarballs, packages and the SBOM carry the commit's time, not the build's.
# Handed to those steps only: the cc crate rebuilds ring whenever it changes.
SOURCE_DATE_EPOCH ?= $(shell cat .source_date_epoch 2>/dev/null || git log -1 --format=%ct 2>/dev/null || echo 0)
EPOCH := SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH)

# Packaging tools, pinned (packaging/tools/): Python ones in a venv under
# target/, cargo-cyclonedx under CARGO_HOME so later clones reuse it.
TOOLS_DIR := $(CURDIR)/target/tools
CARGO_TOOLS_ROOT ?= $(CARGO_HOME_DIR)/tunnel-client-tools
CYCLONEDX_VERSION := 0.5.9
DIST_NAME := tunnel-client-$(VERSION)
DIST_TARBALL := target/dist/$(DIST_NAME).tar.gz

.PHONY: all build test lint demo bench soak fuzz test-ui dist install uninstall install-test clean \
	vendor unvendor dist-src offline-check repro-check sbom licenses \
	deb deb-test rpm rpm-test container-rootfs container-check k8s-check \
	systemd-check packaging-check tools completions

all: build

build:
	RUSTFLAGS="$(RELEASE_RUSTFLAGS)" CFLAGS="$(RELEASE_CFLAGS)" \
		$(CARGO) build --release $(OFFLINE_FLAGS)

test:
	$(CARGO) test --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

demo: build
	sh tests/scripts/demo.sh $(RELEASE_DIR)

# The issue's figures with their targets, against direct calls in the same
# interleaved rounds. TUNNEL_BENCH_BASELINE_DIR=dir (an earlier build's
# tunnel-client and tunnel-relay) adds a "before" column; mcp-proxy is measured
# when installed in target/ref-mcp/proxy (the bench prints how).
bench: build dist
	$(CARGO) test --release --locked --test bench -- --bench

# The tunnel under load (SOAK_SECONDS, default 600; or SOAK_CALLS=1000000):
# fails when memory grows after warm-up or threads/fds drift; CSV in target/soak/.
# `cargo test --release` builds the binaries it drives (same flags as the test).
soak:
	$(CARGO) test --release --locked --test soak -- --soak

# Every fuzz target under fuzz/ for FUZZ_SECONDS seconds each (cargo-fuzz,
# installed pinned into target/tools; fuzz/ has its own Cargo.lock).
FUZZ_SECONDS ?= 60
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/scripts/fuzz.sh

test-ui: build
	sh tests/ui/run.sh $(RELEASE_DIR)

# Our own tarball build: smallest stripped binaries (distros use `release`).
dist:
	$(CARGO) build --profile dist --locked

install: $(if $(NOBUILD),,build)
	install -Dm755 $(RELEASE_DIR)/tunnel-client $(DESTDIR)$(BINDIR)/tunnel-client
	install -Dm755 $(RELEASE_DIR)/tunnel-relay $(DESTDIR)$(BINDIR)/tunnel-relay
	install -Dm644 man/tunnel-client.1 $(DESTDIR)$(MANDIR)/man1/tunnel-client.1
	install -Dm644 man/tunnel-relay.1 $(DESTDIR)$(MANDIR)/man1/tunnel-relay.1
	install -Dm644 packaging/completions/tunnel-client.bash $(DESTDIR)$(BASHCOMPDIR)/tunnel-client
	install -Dm644 packaging/completions/_tunnel-client $(DESTDIR)$(ZSHCOMPDIR)/_tunnel-client
	install -Dm644 packaging/completions/tunnel-client.fish $(DESTDIR)$(FISHCOMPDIR)/tunnel-client.fish
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/bin/tunnel-client|$(BINDIR)/tunnel-client|' packaging/systemd/tunnel-client@.service \
		> $(DESTDIR)$(UNITDIR)/tunnel-client@.service
	chmod 644 $(DESTDIR)$(UNITDIR)/tunnel-client@.service
	install -Dm644 packaging/systemd/tunnel-client.sysusers $(DESTDIR)$(SYSUSERSDIR)/tunnel-client.conf

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/tunnel-client $(DESTDIR)$(BINDIR)/tunnel-relay \
		$(DESTDIR)$(MANDIR)/man1/tunnel-client.1 $(DESTDIR)$(MANDIR)/man1/tunnel-relay.1 \
		$(DESTDIR)$(BASHCOMPDIR)/tunnel-client $(DESTDIR)$(ZSHCOMPDIR)/_tunnel-client \
		$(DESTDIR)$(FISHCOMPDIR)/tunnel-client.fish \
		$(DESTDIR)$(UNITDIR)/tunnel-client@.service $(DESTDIR)$(SYSUSERSDIR)/tunnel-client.conf

install-test: build
	sh tests/packaging/install-test.sh

# Shell completions are generated from the flag tables; a unit test fails when
# the packaged files differ from what the binary prints.
completions:
	$(CARGO) build --locked --bin tunnel-client
	target/debug/tunnel-client completions bash > packaging/completions/tunnel-client.bash
	target/debug/tunnel-client completions zsh > packaging/completions/_tunnel-client
	target/debug/tunnel-client completions fish > packaging/completions/tunnel-client.fish

clean:
	$(CARGO) clean

# --- Air-gapped builds -------------------------------------------------------

# vendor/ and .cargo/config.toml (both git-ignored): every later cargo command
# in this tree reads crates from vendor/. `make unvendor` goes back.
# Re-vendored only when Cargo.lock changes, so builds keep their cache.
vendor: .cargo/config.toml

.cargo/config.toml: Cargo.lock
	mkdir -p .cargo
	{ echo "# Written by make vendor: crates come from vendor/ (make unvendor removes it)."; \
	  $(CARGO) vendor --locked --versioned-dirs vendor; } > .cargo/config.toml.tmp
	mv .cargo/config.toml.tmp .cargo/config.toml

unvendor:
	rm -rf vendor .cargo/config.toml

# The committed tree (HEAD) plus vendor/, .cargo/config.toml, the commit id
# (.cargo_vcs_info.json) and its time: everything an offline build needs.
dist-src: vendor
	$(EPOCH) sh packaging/dist-src.sh $(DIST_NAME) $(SOURCE_DATE_EPOCH)

# Builds and tests from the dist-src tarball with an empty CARGO_HOME and no
# network at all (a fresh network namespace where unshare(1) can make one).
offline-check: dist-src
	sh tests/packaging/offline-check.sh $(DIST_TARBALL)

# The release binaries of this tree against a second build of the dist-src
# tarball elsewhere, later, with another umask, TZ and locale.
repro-check: build dist-src
	sh tests/packaging/repro-check.sh $(DIST_TARBALL) $(RELEASE_DIR)

# --- Supply chain ---------------------------------------------------------------

sbom: $(CARGO_TOOLS_ROOT)/bin/cargo-cyclonedx
	mkdir -p target/sbom
	$(EPOCH) $(CARGO_TOOLS_ROOT)/bin/cargo-cyclonedx cyclonedx --format json --spec-version 1.5 \
		--license-strict --override-filename $(DIST_NAME).cdx
	mv $(DIST_NAME).cdx.json target/sbom/
	python3 packaging/sbom-summary.py target/sbom/$(DIST_NAME).cdx.json

licenses:
	python3 packaging/licenses.py list
	python3 packaging/licenses.py check packaging/licenses.allow

$(CARGO_TOOLS_ROOT)/bin/cargo-cyclonedx:
	$(CARGO) install --locked --quiet --root $(CARGO_TOOLS_ROOT) cargo-cyclonedx@$(CYCLONEDX_VERSION)

$(TOOLS_DIR)/py/.installed: packaging/tools/requirements.txt
	rm -rf $(TOOLS_DIR)/py
	python3 -m venv $(TOOLS_DIR)/py
	$(TOOLS_DIR)/py/bin/pip install --quiet --no-deps -r packaging/tools/requirements.txt
	touch $@

$(TOOLS_DIR)/node/.installed: packaging/tools/package.json packaging/tools/package-lock.json
	rm -rf $(TOOLS_DIR)/node
	mkdir -p $(TOOLS_DIR)/node
	cp packaging/tools/package.json packaging/tools/package-lock.json $(TOOLS_DIR)/node/
	cd $(TOOLS_DIR)/node && npm ci --no-audit --no-fund --silent
	touch $@

tools: $(TOOLS_DIR)/py/.installed $(TOOLS_DIR)/node/.installed $(CARGO_TOOLS_ROOT)/bin/cargo-cyclonedx

# --- Packages -------------------------------------------------------------------

# tunnel-client_<version>-1_<arch>.deb from the release binaries (dpkg-deb).
deb: build vendor
	$(EPOCH) sh packaging/debian/build-deb.sh $(VERSION) $(RELEASE_DIR) target/deb

deb-test: deb
	sh tests/packaging/deb-test.sh target/deb

# The RPM, built by rpmbuild from the dist-src tarball, offline.
rpm: dist-src
	$(EPOCH) sh packaging/rpm/build-rpm.sh $(DIST_TARBALL) target/rpm

rpm-test: rpm
	sh tests/packaging/rpm-test.sh target/rpm

# The container's final stage, staged from the release binary (what the
# Dockerfile's last stage copies), run under chroot; and the Dockerfile linted.
container-rootfs: build
	sh packaging/container/stage-rootfs.sh $(RELEASE_DIR)/tunnel-client target/container/rootfs

container-check: container-rootfs $(TOOLS_DIR)/py/.installed
	sh tests/packaging/container-check.sh target/container/rootfs $(TOOLS_DIR)/py/bin/hadolint $(RELEASE_DIR)

k8s-check: $(TOOLS_DIR)/py/.installed $(TOOLS_DIR)/node/.installed
	sh tests/packaging/k8s-check.sh $(TOOLS_DIR)/py/bin/python $(TOOLS_DIR)/node/node_modules

systemd-check: deb
	sh tests/packaging/systemd-check.sh target/deb

packaging-check: install-test licenses offline-check repro-check sbom deb-test rpm-test container-check k8s-check systemd-check
