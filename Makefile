# The two commands of the README:  make demo  (set up + train the demo)  and  make test  (set up + tests).
PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints/cpu.txt
PLUGINS := plugins/progan-classic plugins/progan-datasets plugins/progan-inception
PIP = $(VENV)/bin/pip install -q $(if $(CONSTRAINTS),-c $(CONSTRAINTS))

.PHONY: demo test clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# the library alone
$(VENV)/.demo: $(VENV)/bin/python pyproject.toml $(CONSTRAINTS)
	$(PIP) -e .
	touch $@

# plus the first-party plugins and the optional extras, so that their tests run too
$(VENV)/.test: $(VENV)/bin/python pyproject.toml $(addsuffix /pyproject.toml,$(PLUGINS)) $(CONSTRAINTS)
	$(PIP) -e ".[test,onnx,plot]" $(addprefix -e ,$(PLUGINS))
	touch $@

demo: $(VENV)/.demo
	$(VENV)/bin/progan train --preset demo --out runs/demo

test: $(VENV)/.test
	$(VENV)/bin/python -m pytest tests $(addsuffix /tests,$(PLUGINS))

clean:
	rm -rf $(VENV) runs
