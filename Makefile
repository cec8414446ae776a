# Two commands do all set-up on a fresh machine (python3 >= 3.11 and make):
#   make run   - create .venv, install, start the embedded default (PostgreSQL 18 + pgvector,
#                Milvus Lite) and open the console (press i there to init both sides)
#   make test  - create/update .venv with all extras and the test tools, run the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test test-fast lint bench clean install bytecode

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[all,test]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps milvus==2.3.5
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

# migctl is installed editable, so nothing compiles its modules the way pip does for a wheel;
# with PYTHONDONTWRITEBYTECODE set (CI images, containers) every start compiled them again
# (~50 ms per command). compileall rewrites only what changed and is read regardless of it.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q core tui

run: bytecode
	$(BIN)/migctl embedded start
	$(BIN)/migctl tui

test: bytecode
	$(BIN)/ruff check core tui tests bench alembic __init__.py __main__.py
	$(BIN)/lint-imports
	bt=$$(mktemp -d -t migctl-pytest-XXXXXX); chmod 755 $$bt; \
	$(BIN)/python -m pytest -q -ra --basetemp=$$bt tests; rc=$$?; rm -rf $$bt; \
	if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# The layer that starts no server (tests marked `server` are left out): seconds, for every edit.
test-fast: bytecode
	$(BIN)/python -m pytest -q -m "not server" tests

lint: $(STAMP)
	$(BIN)/ruff check core tui tests bench alembic __init__.py __main__.py
	$(BIN)/lint-imports

bench: bytecode
	$(BIN)/python bench/relational.py
	$(BIN)/python bench/tui_startup.py
	$(BIN)/python bench/tui_keys.py

clean:
	-$(BIN)/migctl embedded stop
	rm -rf $(VENV) .pytest_cache .ruff_cache
