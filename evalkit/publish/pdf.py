"""Print an HTML report to an A4 PDF with headless Chromium.

Why Chromium and not WeasyPrint: the bureau reads the report in a browser first, and the PDF
must be the same page the browser shows. Chromium *is* that browser engine (the same layout,
CSS ``@page``/``break-before``, CJK line breaking and font fallback as Chrome and the 360/QQ
browsers used in Chinese government offices, which are Chromium builds); it is one system package
(Debian/Ubuntu ``chromium``, also what the tests render with) and adds no Python dependency.
WeasyPrint would add a Python package plus Pango/cairo system libraries, implements its own CSS
subset (no CSS grid, different table splitting), and its output would be a second layout to check.

:func:`print_pdf` runs ``chromium --headless --no-sandbox --print-to-pdf``; page size and
margins come from the report's print stylesheet (``@page { size: A4 }``).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import EvalkitError

__all__ = ["find_chromium", "print_pdf", "CHROMIUM_NAMES"]

#: Executable names tried, in order (``$EVALKIT_CHROMIUM`` first if set).
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

_INSTALL = ("install the Debian/Ubuntu package 'chromium' (sudo apt-get install chromium; macOS: brew install "
            "--cask chromium), or set EVALKIT_CHROMIUM to the path of a Chromium or Chrome executable")


def find_chromium() -> str | None:
    """The path of a Chromium/Chrome executable (``$EVALKIT_CHROMIUM`` first), or ``None``."""
    forced = os.environ.get("EVALKIT_CHROMIUM")
    if forced:
        return forced if Path(forced).is_file() else shutil.which(forced)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def print_pdf(html_path: str | Path, pdf_path: str | Path, *, timeout: float = 120) -> Path:
    """Print ``html_path`` to ``pdf_path`` (A4, the page's print stylesheet) with headless Chromium.

    Raises
    ------
    EvalkitError
        Chromium is not installed (naming the package to install), or it failed or wrote no PDF.
    """
    exe = find_chromium()
    if exe is None:
        raise EvalkitError(f"The PDF needs headless Chromium, which was not found: {_INSTALL}. "
                           "The HTML report was written; open it in a browser and print it, or rerun without --pdf.")
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    if pdf_path.exists():
        pdf_path.unlink()
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
           "--run-all-compositor-stages-before-draw", f"--print-to-pdf={pdf_path}", html_path.as_uri()]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EvalkitError(f"Chromium did not print {html_path.name} within {timeout:.0f} s.") from None
    if not pdf_path.is_file() or pdf_path.stat().st_size == 0:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        raise EvalkitError(f"Chromium ({exe}) wrote no PDF for {html_path.name} (exit code {proc.returncode}): "
                           + " | ".join(tail))
    return pdf_path
