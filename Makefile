# Two commands do everything: `make run` and `make test`. Both set up what is missing first
# (venv, pip packages, Debian packages) and are quick when nothing changed.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch 2.13.0 on local disk is for Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
PIP_STAMP := $(VENV)/.requirements-installed
APT_PACKAGES := ffmpeg sox espeak-ng flite festival festvox-us-slt-hts festvox-ca-ona-hts redis-server \
	apertium apertium-eng-spa apertium-eng-cat apertium-en-gl \
	apertium-fr-es apertium-es-pt apertium-eo-en chromium
# Wanted, not needed: the tests that use them skip, saying why, where they could not be installed.
APT_OPTIONAL := codec2-examples asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722 \
	asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722 asterisk-prompt-it-menardi-wav asterisk-prompt-es-co \
	asterisk-prompt-fr-armelle pocketsphinx-testdata apertium-spa-ita apertium-spa-cat \
	fillets-ng-data-nl fillets-ng-data-cs
APT_OPTIONAL_TRIED := .apt-optional-failed
PORT ?= 8501
# Loopback only unless you choose otherwise (then configure a login: README "Serving a team").
ADDRESS ?= 127.0.0.1

.PHONY: setup apt run test test-fast bench worker worker-stop constraints clean

setup: apt $(PIP_STAMP)
	@# Bytecode for our own modules: where PYTHONDONTWRITEBYTECODE is set (as on our CI machines) every
	@# fresh process compiled them again, 0.07 s of each `dub` and of each worker's stage host.
	@$(PY) -m compileall -q dubbing pages app.py >/dev/null

# Debian packages: ffmpeg/ffprobe, eSpeak NG, Flite and Festival HTS voices, Apertium and its pairs,
# Chromium for browser tests, redis-server for the Redis job queue (DUBBING_QUEUE) and its tests,
# codec2-examples, Asterisk's prompts and pocketsphinx-testdata for their recorded voices (more real people,
# in five languages, for the structure tests and benchmark), Fish Fillets' Dutch and Czech dubs (acted voices,
# 72 MB), and Apertium's Italian-Spanish pair (without it
# Italian lines are flagged for a person to translate) and Spanish-Catalan pair (without it the two go
# through English, which a close pair loses most by).
apt:
	@missing() { for p in "$$@"; do dpkg -s $$p >/dev/null 2>&1 || printf ' %s' $$p; done; }; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else sudo="false"; fi; \
	install() { DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends "$$@"; }; \
	updated=""; \
	needed=$$(missing $(APT_PACKAGES)); \
	if [ -n "$$needed" ]; then \
	  [ "$$sudo" != false ] || { echo "Please install these Debian packages (needs root):$$needed"; exit 1; }; \
	  echo "Installing Debian packages:$$needed"; \
	  $$sudo apt-get update -qq && updated=1 && install $$needed || exit 1; \
	fi; \
	wanted=$$(missing $(APT_OPTIONAL)); \
	if [ -n "$$wanted" ] && [ ! -e $(APT_OPTIONAL_TRIED) ]; then \
	  echo "Installing optional Debian packages:$$wanted"; \
	  { [ -n "$$updated" ] || $$sudo apt-get update -qq; } \
	    && { install $$wanted || for p in $$wanted; do install $$p; done; }; \
	  left=$$(missing $(APT_OPTIONAL)); \
	  if [ -n "$$left" ]; then \
	    echo "Could not install$$left; the tests that use them will skip (remove $(APT_OPTIONAL_TRIED) to try again)."; \
	    touch $(APT_OPTIONAL_TRIED); \
	  fi; \
	fi

# The package itself (editable, so the worker it spawns imports this checkout), its heavy engines and
# the test tools, at the versions in constraints.txt: what CI tested.
$(PIP_STAMP): requirements.txt pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip check
	@touch $@

# After changing dependencies in pyproject.toml and passing the tests: pin what the venv now holds.
constraints: $(PIP_STAMP)
	{ echo "# Exact versions CI tested; make installs with -c constraints.txt. Regenerate: make constraints"; \
	  $(PY) -m pip freeze --all --exclude-editable | grep -Ev '^(pip|dubbing-studio)=='; } > constraints.txt

run: setup
	$(PY) -m streamlit run app.py --server.address $(ADDRESS) --server.port $(PORT)

test: setup
	$(PY) -m pytest

# Everything but the browser and the slow end-to-end runs.
test-fast: setup
	$(PY) -m pytest -m "not slow and not browser"

bench: setup
	$(PY) benchmarks/bench_pipeline.py
	$(PY) benchmarks/bench_runner.py
	$(PY) benchmarks/bench_sound.py

# The background worker in the foreground (the app and `jobs submit` start one on demand).
# With QUEUE=redis://host:6379/0 [QUEUES=gpu,cpu]: a worker of the Redis job queue (README).
worker: setup
	$(PY) -m dubbing worker $(if $(QUEUE),--queue $(QUEUE)) $(if $(QUEUES),--queues $(QUEUES))

worker-stop:
	$(PY) -m dubbing worker --stop

clean:
	rm -rf $(VENV) .pytest_cache test-output $(APT_OPTIONAL_TRIED)
