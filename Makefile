# The two commands the README promises: `make run` (the whole local system) and `make test`.
# Each does all set-up it needs, idempotently: virtualenv, pinned packages, Kafka jars.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
KAFKA_JARS := .cache/kafka/libs/.pom.md5

.PHONY: setup run test clean debian-packages

setup: $(INSTALLED) $(KAFKA_JARS)

$(INSTALLED): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[embedded,test]'
	touch $@

$(KAFKA_JARS): kafka/pom.xml $(INSTALLED)
	$(BIN)/truyvet kafka jars

run: setup
	$(BIN)/truyvet run

# Debian packages the tests drive for real: headless Chromium (through Playwright, which downloads
# no browser), PostgreSQL (throwaway clusters made by truyvet/localpg.py), Redis (the shared
# rate-limit store), and promtool and caddy (checking the production files under deploy/).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
debian-packages:
	command -v chromium >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
		command -v redis-server >/dev/null && command -v promtool >/dev/null && command -v caddy >/dev/null || \
		($(SUDO) apt-get update -qq && \
		 DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium postgresql redis-server prometheus caddy)

test: setup debian-packages
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .cache var
