# tunnel-client: the two commands a newcomer needs are `make demo` and `make test`.
# Everything here needs only a Rust toolchain, make and curl.

CARGO ?= cargo
PREFIX ?= /usr/local
RELEASE_DIR := target/release

.PHONY: all build test lint demo bench soak fuzz test-ui dist install clean completions

all: build

build:
	$(CARGO) build --release --locked

test:
	$(CARGO) test --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

demo: build
	sh tests/scripts/demo.sh $(RELEASE_DIR)

bench: build dist
	$(CARGO) test --release --locked --test bench -- --bench

# The tunnel under load (SOAK_SECONDS, default 600; or SOAK_CALLS=1000000):
# fails when memory grows after warm-up or threads/fds drift; CSV in target/soak/.
soak: build
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

install: build
	install -Dm755 $(RELEASE_DIR)/tunnel-client $(DESTDIR)$(PREFIX)/bin/tunnel-client
	install -Dm755 $(RELEASE_DIR)/tunnel-relay $(DESTDIR)$(PREFIX)/bin/tunnel-relay
	install -Dm644 man/tunnel-client.1 $(DESTDIR)$(PREFIX)/share/man/man1/tunnel-client.1
	install -Dm644 man/tunnel-relay.1 $(DESTDIR)$(PREFIX)/share/man/man1/tunnel-relay.1
	install -Dm644 packaging/completions/tunnel-client.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/tunnel-client
	install -Dm644 packaging/completions/_tunnel-client $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_tunnel-client
	install -Dm644 packaging/completions/tunnel-client.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/tunnel-client.fish

# Shell completions are generated from the flag tables; a unit test fails when
# the packaged files differ from what the binary prints.
completions:
	$(CARGO) build --locked --bin tunnel-client
	target/debug/tunnel-client completions bash > packaging/completions/tunnel-client.bash
	target/debug/tunnel-client completions zsh > packaging/completions/_tunnel-client
	target/debug/tunnel-client completions fish > packaging/completions/tunnel-client.fish

clean:
	$(CARGO) clean
