# pwreset — common tasks. `make run` serves on SQLite; `make test` runs every test.

CARGO ?= cargo

# Database servers for the tests (each test creates and drops its own database).
PWRESET_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
PWRESET_TEST_MYSQL_URL ?= mysql://root@127.0.0.1:3306/test
# Redis for the shared-limit adapter's tests (the multi-instance tests start
# redis-server processes of their own, on free ports).
PWRESET_TEST_REDIS_URL ?= redis://127.0.0.1:6379
export PWRESET_TEST_POSTGRES_URL PWRESET_TEST_MYSQL_URL PWRESET_TEST_REDIS_URL

# Optional cargo features, e.g. FEATURES=mysql (needs libmariadb-dev and pkg-config).
FEATURES ?=
CARGO_FEATURES = $(if $(FEATURES),--features pwreset-server/$(FEATURES) --features pwreset-infra/$(FEATURES) --features pwreset-cloudreve/$(FEATURES))

# Budgets of the hostile-input runs (CI uses these fixed values; raise them to search harder).
FUZZ_RUNS ?= 200000
FUZZ_TARGETS := request_body hashid config
API_FUZZ_EXAMPLES ?= 300
SOAK_SECONDS ?= 180
export API_FUZZ_EXAMPLES SOAK_SECONDS

# `make deb` packages the release build; DEB_PROFILE=dev packages the debug
# build instead (CI's smoke test of the package, without a release build).
DEB_PROFILE ?= release
DEB_TARGET_DIR = target/$(if $(filter release,$(DEB_PROFILE)),release,debug)

# `make image` packs the release build into a container image (podman or
# docker); IMAGE_PROFILE=dev packs the debug build (CI's smoke test).
IMAGE ?= pwreset:latest
IMAGE_PROFILE ?= release
IMAGE_TARGET_DIR = target/$(if $(filter release,$(IMAGE_PROFILE)),release,debug)
CONTAINER ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
# The runtime image needs libmariadb3 when the binary has the mysql feature.
IMAGE_PACKAGES = $(if $(findstring mysql,$(FEATURES)),libmariadb3)

.PHONY: run build test lint fmt bench fuzz api-fuzz soak check-migrations check-host-build check-duplicates package deb deb-smoke image container-smoke screenshots clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: ## serve on http://127.0.0.1:5212 with the SQLite database ./data/pwreset.db
	$(CARGO) run --release -p pwreset-server --bin pwreset $(CARGO_FEATURES) -- serve

build: ## release build of the pwreset binary (target/release/pwreset)
	$(CARGO) build --release -p pwreset-server --bin pwreset $(CARGO_FEATURES)

test: check-migrations ## every test: unit, contract (memory, SQLite, PostgreSQL, MySQL, Cloudreve), HTTP, end to end
	@mkdir -p target && rm -f target/test-skips.log
	PWRESET_SKIP_LOG=$(CURDIR)/target/test-skips.log $(CARGO) test --workspace $(CARGO_FEATURES)
	@if [ -s target/test-skips.log ]; then \
		echo; echo "All tests passed, but some did not run (count, reason):"; \
		sort target/test-skips.log | uniq -c; \
	else echo; echo "All tests ran and passed."; fi

check-duplicates: ## fail when a crate is in the build graph twice, unless listed with the reason
	bash scripts/check-duplicates.sh

check-host-build: ## prove a host can use domain + http + infra without compiling C (no bundling, no SQL)
	bash scripts/check-host-build.sh

deb: ## Debian package in target/debian: binary, hardened systemd unit, /etc/pwreset/pwreset.toml, completions, man pages (needs cargo-deb)
	@command -v cargo-deb >/dev/null || { echo "cargo-deb is missing: cargo install cargo-deb --locked" >&2; exit 1; }
	$(CARGO) build --profile $(if $(filter release,$(DEB_PROFILE)),release,dev) -p pwreset-server --bin pwreset $(CARGO_FEATURES)
	$(DEB_TARGET_DIR)/pwreset generate-assets --out target/assets >/dev/null
	$(CARGO) deb -p pwreset-server --no-build --profile $(DEB_PROFILE) --no-dbgsym -o target/debian/

deb-smoke: ## install target/debian's package on this machine (root), try it as the service user, purge it
	bash scripts/deb-smoke.sh

image: ## container image $(IMAGE) from the release build: non-root, /data volume, HEALTHCHECK (podman or docker)
	$(CARGO) build --profile $(if $(filter release,$(IMAGE_PROFILE)),release,dev) -p pwreset-server --bin pwreset $(CARGO_FEATURES)
	install -D -m 0755 $(IMAGE_TARGET_DIR)/pwreset target/container/pwreset
	$(CONTAINER) build --target prebuilt --build-arg RUNTIME_PACKAGES="$(IMAGE_PACKAGES)" -t $(IMAGE) .

container-smoke: ## build the image with podman and try it: SQLite in /data, HEALTHCHECK, PostgreSQL with a secret file (root)
	$(CARGO) build --profile $(if $(filter release,$(IMAGE_PROFILE)),release,dev) -p pwreset-server --bin pwreset $(CARGO_FEATURES)
	install -D -m 0755 $(IMAGE_TARGET_DIR)/pwreset target/container/pwreset
	RUNTIME_PACKAGES="$(IMAGE_PACKAGES)" bash scripts/container-smoke.sh

package: ## package the library crates as publishing would, in dependency order, each built from its package
	@# cargo verifies each crate against the others' packages through a local
	@# registry named after this checkout's path, and keeps what it unpacked
	@# and built from there by version: ours change without a version bump,
	@# so an earlier run from the same path would be verified against instead.
	rm -rf "$${CARGO_HOME:-$$HOME/.cargo}"/registry/src/-*/pwreset-*
	$(CARGO) clean -p pwreset-domain -p pwreset-infra -p pwreset-cloudreve
	$(CARGO) package -p pwreset-domain -p pwreset-infra -p pwreset-cloudreve -p pwreset-http

lint: ## rustfmt check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --workspace --all-targets $(CARGO_FEATURES) -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml

bench: ## measure against the physical limits and rewrite docs/benchmarks.md (release build; ~15 min)
	python3 crates/bench/bench.py

fuzz: ## libFuzzer on the body, hashid and config parsers, FUZZ_RUNS executions each (needs cargo-fuzz)
	@command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 1; }
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$t && \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O -a $$t corpus/$$t seeds/$$t -- \
			-runs=$(FUZZ_RUNS) -max_len=4096 -seed=1 -print_final_stats=1 || exit 1; \
	done

api-fuzz: ## schemathesis against the served openapi.json; fails on 5xx, nonconformance or any state change (needs schemathesis)
	SCHEMATHESIS="$(SCHEMATHESIS)" python3 scripts/api_fuzz.py

soak: ## a few minutes of mixed steady load on the release binary; fails on unexpected codes or growth (not in CI)
	python3 scripts/soak.py

screenshots: ## regenerate docs/img (needs chromium and chromium-driver)
	$(CARGO) test -p pwreset-server --test browser -- --ignored screenshots

check-migrations: ## fail when the backends' migration folders differ
	@scripts/check-migrations.sh

clean:
	$(CARGO) clean
