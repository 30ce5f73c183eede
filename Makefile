# evalkit: two commands.
#   make report   set up, write the bureau report (HTML + PDF) and the technical appendix (executed notebooks) to reports/
#   make test     set up, run every test and re-execute every notebook under nbval (strict)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup report test data benchmark study clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

report: setup
	$(BIN)/python -m evalkit report --pdf --appendix

test: setup
	MPLBACKEND=Agg $(BIN)/python -m pytest --nbval --nbval-sanitize-with notebooks/sanitize.cfg tests notebooks

data: setup
	$(BIN)/python -m evalkit simulate --out evalkit/datasets/dongying

benchmark: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) reports
