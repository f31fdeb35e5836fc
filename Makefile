# pwreset — common tasks. `make run` serves on SQLite; `make test` runs every test.

CARGO ?= cargo

# Database servers for the tests (each test creates and drops its own database).
PWRESET_TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
PWRESET_TEST_MYSQL_URL ?= mysql://root@127.0.0.1:3306/test
export PWRESET_TEST_POSTGRES_URL PWRESET_TEST_MYSQL_URL

# Optional cargo features, e.g. FEATURES=mysql (needs libmariadb-dev and pkg-config).
FEATURES ?=
CARGO_FEATURES = $(if $(FEATURES),--features pwreset-server/$(FEATURES) --features pwreset-infra/$(FEATURES))

.PHONY: run build test lint fmt bench check-migrations screenshots clean help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

run: ## serve on http://127.0.0.1:5212 with the SQLite database ./data/pwreset.db
	$(CARGO) run --release -p pwreset-server --bin pwreset $(CARGO_FEATURES) -- serve

build: ## release build of the pwreset binary (target/release/pwreset)
	$(CARGO) build --release -p pwreset-server --bin pwreset $(CARGO_FEATURES)

test: check-migrations ## every test: unit, contract (memory, SQLite, PostgreSQL), HTTP, end to end
	$(CARGO) test --workspace $(CARGO_FEATURES)

lint: ## rustfmt check and clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets $(CARGO_FEATURES) -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

bench: ## measure against the physical limits and rewrite docs/benchmarks.md (release build; ~10 min)
	python3 scripts/bench.py

screenshots: ## regenerate docs/img (needs chromium and chromium-driver)
	$(CARGO) test -p pwreset-server --test browser -- --ignored screenshots

check-migrations: ## fail when the backends' migration folders differ
	@scripts/check-migrations.sh

clean:
	$(CARGO) clean
