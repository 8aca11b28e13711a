# Sluice task runner. The two commands a fresh machine needs:
#   make quickstart   build everything and run examples/quickstart.yaml (embedded Kafka)
#   make test         install what the tests need (real Kafka included) and run them all

SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: quickstart test test-helpers setup tools kafka plugins plugins-rust plugins-js plugins-python plugins-go \
        gen gen-check build check lint bench bench-quick clean

## Run the quickstart pipeline on the embedded demo cluster (Ctrl-C stops it).
quickstart: setup plugins-rust build
	./target/debug/sluice run examples/quickstart.yaml

## Everything the test suite needs, then the suite.
test: setup tools kafka plugins build
	$(CARGO) test --workspace --lib --bins --tests
	cd plugins && $(CARGO) test --workspace --target x86_64-unknown-linux-gnu
	$(MAKE) --no-print-directory test-helpers

## The JavaScript, Go and Python helpers' own unit tests (after `make plugins`).
test-helpers:
	node plugins/js/test/helper.mjs
	cd plugins/go && go test ./sluice/
	cd plugins/python && PYTHONPATH=.build/bindings:. .venv/bin/python -m unittest discover -s test -q

setup:
	@rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2

## Debian tools the tests use as independent clients: kcat, curl, hey (bench-ingest), and Prometheus
## (prometheus + promtool). The tests start Prometheus themselves as a child on a free
## port; the package's own service is stopped and disabled where an init system runs it.
tools:
	@missing=""; \
	command -v kcat >/dev/null || missing="$$missing kcat"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v hey >/dev/null || missing="$$missing hey"; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi; \
	if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then \
	  systemctl disable --now prometheus >/dev/null 2>&1 || true; \
	elif [ -x /etc/init.d/prometheus ]; then \
	  /etc/init.d/prometheus stop >/dev/null 2>&1 || true; \
	fi

## Apache Kafka jars from Maven Central (cached in ~/.m2).
kafka:
	bash scripts/kafka.sh fetch

plugins: plugins-rust plugins-js plugins-python plugins-go

## Files generated from wit/types.wit (each language's batch-layout constants) and from
## host/templates/ (the `sluice new` file lists): write them, or check they are current.
gen:
	$(CARGO) run -q -p sluice-batch-gen

gen-check:
	$(CARGO) run -q -p sluice-batch-gen -- --check

plugins-rust: setup
	bash scripts/build-plugins-rust.sh

plugins-js:
	bash plugins/js/build.sh

plugins-python:
	bash plugins/python/build.sh

plugins-go:
	bash plugins/go/build.sh

build:
	$(CARGO) build -p sluice

check: build plugins-rust
	./target/debug/sluice check examples/*.yaml examples/*.toml

lint: gen-check
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean
	rm -rf plugins/target plugins/dist

## Benchmarks (release builds; print tables, assert nothing).
bench: plugins
	$(CARGO) bench -p sluice --bench boundary
	$(CARGO) bench -p sluice --bench languages
	$(CARGO) bench -p sluice --bench interrupt
	bash scripts/bench-reload.sh
	bash scripts/bench-acks.sh
	bash scripts/bench-http.sh
	bash scripts/bench-race.sh
	bash scripts/bench-scale.sh

## The race and the scale benchmark on small counts (one run each): does every contender
## run and deliver? Writes target/bench/{race,scale}.md; the figures are not for comparison.
bench-quick: setup tools kafka plugins-rust
	bash scripts/bench-race.sh --quick
	bash scripts/bench-scale.sh --quick
