"""The demo: realistic traffic (`leads.py`), the run (`run.py`) and what it shows (`report.py`)."""
